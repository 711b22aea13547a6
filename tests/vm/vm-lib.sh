# numabench VM test harness (sourced by run-case.sh).
#
# Boots a real Linux kernel under QEMU with firmware tables (SRAT/SLIT/_PXM)
# describing several NUMA nodes, runs numabench inside, and brings its output
# back. Placement inside the guest is real (the kernel binds, migrates and
# reports pages as on multi-socket hardware); speed is not, so cases check
# placement and topology, never performance.

# Skip (77) with the reason, on stderr so that it shows from inside $(...);
# NB_TEST_STRICT=1 makes it a failure.
vm_skip() {
  if [ "${NB_TEST_STRICT:-0}" = 1 ]; then
    echo "FAIL (strict): $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

# The kernel image: $NB_VM_KERNEL, or Debian's current one fetched once into
# the work directory with `apt-get download` (nothing is installed).
vm_kernel() {
  if [ -n "${NB_VM_KERNEL:-}" ]; then
    [ -r "$NB_VM_KERNEL" ] || vm_skip "NB_VM_KERNEL=$NB_VM_KERNEL is not readable"
    (cd "$(dirname "$NB_VM_KERNEL")" && echo "$(pwd)/$(basename "$NB_VM_KERNEL")")
    return
  fi
  local k pkg d
  k="$NB_VM_WORK/vmlinuz"
  if [ ! -s "$k" ]; then
    command -v apt-get >/dev/null 2>&1 || vm_skip "no kernel image: set NB_VM_KERNEL to a bzImage (no apt-get here)"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image/ {print $2; exit}')
    [ -n "$pkg" ] || vm_skip "no kernel image: apt cannot resolve linux-image-amd64 (run apt-get update, or set NB_VM_KERNEL)"
    d=$(mktemp -d "$NB_VM_WORK/kernel.XXXXXX")
    if ! (cd "$d" && apt-get download "$pkg" >/dev/null 2>&1); then
      rm -rf "$d"
      vm_skip "no kernel image: apt-get download $pkg failed (offline? set NB_VM_KERNEL)"
    fi
    dpkg-deb --fsys-tarfile "$d"/*.deb | tar -xO --wildcards './boot/vmlinuz-*' >"$k.tmp" && mv "$k.tmp" "$k"
    # The modules a host-root case loads come from the same package, so
    # that they match the kernel; a failure here only shows in such a case.
    vm_extract_modules "$d"/*.deb "${pkg#linux-image-}" >/dev/null 2>&1
    rm -rf "$d"
    [ -s "$k" ] || vm_skip "no kernel image: could not extract vmlinuz from $pkg"
  fi
  echo "$k"
}

# vm_kernel_version KERNEL: the release a bzImage was built as (uname -r),
# from the version string its boot header points to (offset at 0x20e,
# relative to 0x200).
vm_kernel_version() {
  local off
  off=$(od -An -tu2 -j 526 -N 2 "$1" 2>/dev/null | tr -d ' ')
  [ -n "$off" ] && [ "$off" -gt 0 ] || return 1
  dd if="$1" bs=1 skip=$((off + 512)) count=128 2>/dev/null | tr '\0' '\n' | head -n 1 | awk '{print $1}'
}

# The modules that mount the host's root in a guest (virtio-9p over PCI),
# loaded in this order after the modules each depends on.
VM_HOSTROOT_MODULES="virtio_pci 9pnet_virtio 9p"

# vm_extract_modules SRC VERSION: $VM_HOSTROOT_MODULES and every module they
# depend on, from SRC (a linux-image .deb, or a lib/modules/VERSION
# directory), into $NB_VM_WORK/modules-VERSION with the file load-order
# (one file name a line, each after its dependencies). A package carries no
# modules.dep (depmod makes it when installed): the dependencies are read
# from each module's own .modinfo section, one level of them at a time.
vm_extract_modules() {
  local src=$1 ver=$2 dir t paths want m p d deps have order left next ready
  dir="$NB_VM_WORK/modules-$ver"
  t=$(mktemp -d "$NB_VM_WORK/mods.XXXXXX")
  if [ -d "$src" ]; then
    paths=$(cd "$src" && find . -name '*.ko' | sed 's|^\./||')
  else
    paths=$(dpkg-deb --fsys-tarfile "$src" | tar -t | sed -n "s|^\./lib/modules/$ver/\(.*\.ko\)\$|\1|p")
  fi
  want=$VM_HOSTROOT_MODULES have=
  while [ -n "$want" ]; do
    next=
    for m in $want; do
      # Module names use _ where their file names may have -.
      p=$(echo "$paths" | awk -v m="$m" '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n) } n == m { print; exit }')
      [ -n "$p" ] || { echo "module $m is not in $src" >&2; rm -rf "$t"; return 1; }
      next="$next $p"
    done
    if [ -d "$src" ]; then
      for p in $next; do mkdir -p "$t/$(dirname "$p")" && cp "$src/$p" "$t/$p"; done
    else
      # shellcheck disable=SC2046
      dpkg-deb --fsys-tarfile "$src" | tar -x -C "$t" --strip-components=4 $(for p in $next; do echo "./lib/modules/$ver/$p"; done) ||
        { rm -rf "$t"; return 1; }
    fi
    have="$have $want" want=
    for p in $next; do
      m=${p##*/} m=${m%.ko}
      deps=$(tr '\0' '\n' <"$t/$p" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' ')
      echo "$m $deps" >>"$t/deps"
      for d in $deps; do
        case " $have $want " in *" $d "*) ;; *) want="$want $d" ;; esac
      done
    done
  done
  # Each module after everything it depends on.
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  order='' left=$(cut -d' ' -f1 "$t/deps" | tr '-' '_')
  while [ -n "$left" ]; do
    next=
    for m in $left; do
      deps=$(awk -v m="$m" '{ n = $1; gsub(/-/, "_", n) } n == m { $1 = ""; print; exit }' "$t/deps")
      ready=1
      for d in $deps; do case " $order " in *" $d "*) ;; *) ready=0 ;; esac; done
      if [ $ready = 1 ]; then order="$order $m"; else next="$next $m"; fi
    done
    [ "$next" != "$left" ] || { echo "modules with circular dependencies: $left" >&2; rm -rf "$t" "$dir.tmp"; return 1; }
    left=$next
  done
  for m in $order; do
    p=$(cd "$t" && find . -name '*.ko' | awk -v m="$m" '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n) } n == m { print; exit }')
    cp "$t/$p" "$dir.tmp/" && echo "${p##*/}" >>"$dir.tmp/load-order"
  done
  rm -rf "$t" "$dir" && mv "$dir.tmp" "$dir"
  echo "$dir"
}

# vm_hostroot_modules: the directory of the host-root modules matching
# $KERNEL (cached in $NB_VM_WORK), or a skip with the reason. They come
# from the linux-image package of the kernel's release (the one vm_kernel
# downloads), or from the host's /lib/modules when it runs that release.
vm_hostroot_modules() {
  local ver dir d m
  ver=$(vm_kernel_version "$KERNEL") || vm_skip "cannot read the kernel release from $KERNEL"
  dir="$NB_VM_WORK/modules-$ver"
  if [ ! -s "$dir/load-order" ] && [ -d "/lib/modules/$ver/kernel" ]; then
    vm_extract_modules "/lib/modules/$ver" "$ver" >/dev/null
  fi
  if [ ! -s "$dir/load-order" ]; then
    [ -z "${NB_VM_KERNEL:-}" ] || vm_skip "no 9p modules for kernel $ver (NB_VM_KERNEL): put them in $dir with a load-order file, or unset NB_VM_KERNEL"
    command -v apt-get >/dev/null 2>&1 || vm_skip "no 9p modules for kernel $ver and no apt-get to fetch linux-image-$ver"
    d=$(mktemp -d "$NB_VM_WORK/kernel.XXXXXX")
    if ! (cd "$d" && apt-get download "linux-image-$ver" >/dev/null 2>&1); then
      rm -rf "$d"
      vm_skip "no 9p modules for kernel $ver: apt-get download linux-image-$ver failed (offline, or the cached vmlinuz is older than the archive's: remove $NB_VM_WORK/vmlinuz)"
    fi
    vm_extract_modules "$d"/*.deb "$ver" >/dev/null || { rm -rf "$d"; vm_skip "could not extract the 9p modules from linux-image-$ver"; }
    rm -rf "$d"
  fi
  # A module that is compressed would need a decompressing insmod.
  for m in $(cat "$dir/load-order"); do
    case $m in *.ko) ;; *) vm_skip "module $m of kernel $ver is compressed; busybox insmod needs plain .ko files" ;; esac
  done
  echo "$dir"
}

# vm_hostroot_prereqs: what a case with NB_VM_HOSTROOT=1 needs (QEMU's
# virtfs and the modules), or a skip; prints the modules' directory.
vm_hostroot_prereqs() {
  qemu-system-x86_64 -device help 2>/dev/null | grep -q '"virtio-9p-pci"' ||
    vm_skip "qemu-system-x86_64 has no virtio-9p-pci (virtfs) to export the host's root"
  vm_hostroot_modules
}

vm_prereqs() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 || vm_skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
  for t in cpio gzip base64 jq; do
    command -v "$t" >/dev/null 2>&1 || vm_skip "$t missing (apt-get install $t)"
  done
  BUSYBOX=${NB_VM_BUSYBOX:-/bin/busybox}
  [ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 ||
    vm_skip "a static busybox is needed at $BUSYBOX (apt-get install busybox-static)"
}

# Copy a dynamic binary and the shared libraries it needs into a root.
vm_copy_binary() {
  local root=$1 bin=$2 dest=$3 lib
  mkdir -p "$root$(dirname "$dest")"
  cp "$bin" "$root$dest"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# vm_initrd OUT CASE-GUEST-SCRIPT: numabench, busybox and the case in an initramfs.
vm_initrd() {
  local out=$1 script=$2 root
  root=$(mktemp -d "$NB_VM_WORK/root.XXXXXX")
  mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  vm_copy_binary "$root" "$NUMABENCH" /bin/numabench
  # Helpers a case needs beside numabench (NB_VM_EXTRA_BINS, set by the case).
  for b in ${NB_VM_EXTRA_BINS:-}; do vm_copy_binary "$root" "$b" "/bin/${b##*/}"; done
  # A host-root case: the modules that mount the host's root over virtio-9p,
  # loaded by init in the order of /hostroot-modules.
  if [ "${NB_VM_HOSTROOT:-0}" = 1 ]; then
    mkdir -p "$root/lib/modules"
    cp "$VM_HOSTROOT_MODDIR"/*.ko "$root/lib/modules/"
    cp "$VM_HOSTROOT_MODDIR/load-order" "$root/hostroot-modules"
  fi
  cp "$NB_VM_DIR/guest-init" "$root/init"
  chmod +x "$root/init"
  cp "$script" "$root/case-guest.sh"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
  rm -rf "$root"
}

# vm_boot LAYOUT PCI INITRD LOG: boot and wait. LAYOUT: 2n (2 nodes x 2 CPUs,
# distance 21), 4n (4 nodes x 1 CPU, distances 16/22), memonly (2 CPU nodes
# and a memory-only node 2), memless (node 0: CPUs 0-1 and all memory; node
# 1: CPUs 2-3 and no memory). PCI=1 adds 4 display devices on node 0
# (0000:41:00.0-44:00.0) and 4 on node 1 (0000:81:00.0-84:00.0), each behind
# a host bridge with the node in _PXM. A case may set VM_NODE_MEM_MB, the
# memory of each node of layout 2n (default 1024).
vm_boot() {
  local layout=$1 pci=$2 initrd=$3 log=$4 topo accel n i nm=${VM_NODE_MEM_MB:-1024}
  m() { echo "-object memory-backend-ram,id=m$1,size=$2"; }
  case $layout in
  2n) topo="-smp 4 -m $((2 * nm))M $(m 0 "${nm}M") $(m 1 "${nm}M")
        -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1
        -numa dist,src=0,dst=1,val=21" ;;
  4n) topo="-smp 4 -m 2G $(m 0 512M) $(m 1 512M) $(m 2 512M) $(m 3 512M)
        -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
        -numa node,nodeid=2,cpus=2,memdev=m2 -numa node,nodeid=3,cpus=3,memdev=m3
        -numa dist,src=0,dst=1,val=16 -numa dist,src=0,dst=2,val=22 -numa dist,src=0,dst=3,val=22
        -numa dist,src=1,dst=2,val=22 -numa dist,src=1,dst=3,val=22 -numa dist,src=2,dst=3,val=16" ;;
  memonly) topo="-smp 4 -m 3G $(m 0 1G) $(m 1 1G) $(m 2 1G)
        -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1
        -numa node,nodeid=2,memdev=m2
        -numa dist,src=0,dst=1,val=21 -numa dist,src=0,dst=2,val=30 -numa dist,src=1,dst=2,val=30" ;;
  # Node 1 has CPUs and no memory (a socket with unpopulated DIMMs): no
  # memdev, so the SRAT gives it CPU affinity only.
  memless) topo="-smp 4 -m 1G $(m 0 1G)
        -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3
        -numa dist,src=0,dst=1,val=21" ;;
  *) echo "unknown VM layout $layout" >&2; return 2 ;;
  esac
  if [ "$pci" = 1 ]; then
    for n in 0 1; do
      topo="$topo -device pxb-pcie,id=pxb$n,bus_nr=$((64 + 64 * n)),numa_node=$n,bus=pcie.0"
      for i in 0 1 2 3; do
        topo="$topo -device pcie-root-port,id=rp$n$i,bus=pxb$n,chassis=$((10 + n)),slot=$i"
        topo="$topo -device secondary-vga,bus=rp$n$i"
      done
    done
  fi
  # The host's root, read-only, for a case that runs the host's programs
  # (NB_VM_HOSTROOT=1); multidevs=remap keeps inode numbers unique across
  # the host's mounts.
  if [ "${NB_VM_HOSTROOT:-0}" = 1 ]; then
    topo="$topo -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,bus=pcie.0"
  fi
  # KVM on these hosts only runs specially built guests: software emulation
  # (TCG) unless NB_VM_ACCEL=kvm.
  if [ "${NB_VM_ACCEL:-tcg}" = kvm ]; then accel="-enable-kvm -cpu host"; else accel="-accel tcg,thread=multi -cpu max"; fi
  # shellcheck disable=SC2086
  timeout "${NB_VM_TIMEOUT:-${VM_CASE_TIMEOUT:-300}}" qemu-system-x86_64 $accel $topo -machine q35 \
    -kernel "$KERNEL" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
    -nographic -no-reboot -nodefaults -serial stdio \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$log" 2>&1
}

# vm_unpack LOG DIR: the files the guest printed, decoded into DIR.
vm_unpack() {
  local log=$1 dir=$2 f
  mkdir -p "$dir"
  tr -d '\r' <"$log" | awk -v dir="$dir" '
    /^=== NB-FILE / { name = $3; file = dir "/" name ".b64"; printf "" > file; next }
    /^=== NB-END/ { close(file); file = ""; next }
    file != "" { print >> file }'
  for f in "$dir"/*.b64; do
    [ -e "$f" ] || continue
    base64 -d <"$f" >"${f%.b64}" && rm -f "$f"
  done
}
