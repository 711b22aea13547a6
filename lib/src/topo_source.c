/* numabench: getting hwloc's topology from the live machine, an XML file or a
 * recorded /sys tree.
 *
 * hwloc 2.9 can crash on malformed XML (an object without complete_cpuset is
 * enough), so files and trees are parsed in a forked child that hands back
 * hwloc's own XML export of what it loaded. The parent only ever parses XML
 * that hwloc itself wrote. A crash, a failure or a hang in the child becomes
 * an error naming the input. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "input.h"
#include "topo-internal.h"

/* Seconds the child may take to parse a topology before it is abandoned. */
#define NB_TOPO_CHILD_TIMEOUT 60

/* Indexes the model can hold: Linux allows up to 8192 CPUs and 1024 nodes.
 * hwloc gives objects without an os_index in the XML HWLOC_UNKNOWN_INDEX,
 * and exporting such a topology can take minutes and hundreds of MB. */

/* Returns NULL when the topology fits the model, else what is wrong. */
static const char *check_indexes(hwloc_topology_t hw)
{
  hwloc_obj_t obj = NULL;
  while ((obj = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_PU, obj))) {
    if (obj->os_index > NB_MAX_CPU_INDEX)
      return obj->os_index == HWLOC_UNKNOWN_INDEX ? "a PU has no os_index"
                                                  : "a PU has an impossible os_index";
    /* A PU is the CPU its index names. */
    if (!obj->cpuset || hwloc_bitmap_weight(obj->cpuset) != 1 ||
        !hwloc_bitmap_isset(obj->cpuset, obj->os_index))
      return "a PU's cpuset does not match its os_index";
  }
  unsigned char seen[NB_MAX_NODE_INDEX + 1] = {0};
  while ((obj = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE, obj))) {
    if (obj->os_index > NB_MAX_NODE_INDEX)
      return obj->os_index == HWLOC_UNKNOWN_INDEX ? "a NUMA node has no os_index"
                                                  : "a NUMA node has an impossible os_index";
    if (seen[obj->os_index]++)
      return "two NUMA nodes have the same os_index";
    if (!obj->nodeset || hwloc_bitmap_weight(obj->nodeset) != 1 ||
        !hwloc_bitmap_isset(obj->nodeset, obj->os_index))
      return "a NUMA node's nodeset does not match its os_index";
  }
  hwloc_const_bitmap_t sets[] = {hwloc_topology_get_complete_cpuset(hw),
                                 hwloc_topology_get_allowed_cpuset(hw),
                                 hwloc_topology_get_complete_nodeset(hw)};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    int last = sets[i] ? hwloc_bitmap_last(sets[i]) : -1;
    if (last < 0 || last > NB_MAX_CPU_INDEX)
      return i == 1 ? "its allowed CPU set is empty or impossible"
                    : "its CPU or node sets are empty or impossible";
  }
  return NULL;
}

static int topo_prepare(hwloc_topology_t *hw)
{
  if (hwloc_topology_init(hw) < 0)
    return -1;
  /* Keep the nodes and CPUs outside the allowed sets: they are shown as not
   * allowed rather than silently missing. */
  hwloc_topology_set_flags(*hw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  /* --devices may name a PCI device of any class. */
  hwloc_topology_set_type_filter(*hw, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
  hwloc_topology_set_type_filter(*hw, HWLOC_OBJ_OS_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
  hwloc_topology_set_type_filter(*hw, HWLOC_OBJ_BRIDGE, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  return 0;
}

/* The child: load (a tree, an XML file, or XML text read by the parent),
 * export as XML to outfd, exit. Never returns. */
static void child_parse(const char *path, int is_dir, const char *text, size_t textlen, int outfd)
{
  hwloc_topology_t hw;
  char *xml = NULL;
  int len = 0;
  /* The caller's signal handlers (a test framework's, a runtime's) must not
   * run here: a crash has to end this child and be seen by the parent. */
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM, SIGTRAP, SIGSYS};
  sigset_t all;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    signal(sigs[i], SIG_DFL);
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, NULL);
  alarm(NB_TOPO_CHILD_TIMEOUT);
  if (topo_prepare(&hw) < 0)
    _exit(3);
  if (is_dir) {
    /* hwloc's Linux backend reads the tree under HWLOC_FSROOT; it then
     * knows the topology is not this system and binds nothing. */
    setenv("HWLOC_FSROOT", path, 1);
  } else if ((text ? hwloc_topology_set_xmlbuffer(hw, text, (int)textlen)
                   : hwloc_topology_set_xml(hw, path)) < 0) {
    fprintf(stderr, "hwloc cannot read it as XML: %s\n", strerror(errno));
    _exit(4);
  }
  if (hwloc_topology_load(hw) < 0) {
    fprintf(stderr, "hwloc cannot load it: %s\n", strerror(errno));
    _exit(5);
  }
  const char *bad = check_indexes(hw);
  if (bad) {
    fprintf(stderr, "%s\n", bad);
    _exit(8);
  }
  if (hwloc_topology_export_xmlbuffer(hw, &xml, &len, 0) < 0 || len <= 0) {
    fprintf(stderr, "hwloc cannot export it: %s\n", strerror(errno));
    _exit(6);
  }
  for (int off = 0; off < len;) {
    ssize_t w = write(outfd, xml + off, (size_t)(len - off));
    if (w < 0) {
      if (errno == EINTR)
        continue;
      _exit(7);
    }
    off += (int)w;
  }
  _exit(0);
}

/* Largest hwloc XML accepted (hwloc's own export of a 16-socket machine with
 * its PCI tree is a few MB). */
#define NB_TOPO_MAX_XML ((size_t)256 << 20)

/* First line of the child's stderr, for the error message. */
static void first_line(const char *text, char *out, size_t len)
{
  out[0] = '\0';
  if (!text)
    return;
  while (*text == '\n' || *text == ' ')
    text++;
  size_t n = strcspn(text, "\n");
  if (n >= len)
    n = len - 1;
  memcpy(out, text, n);
  out[n] = '\0';
}

static int parse_in_child(const char *path, int is_dir, const char *text, size_t textlen, char **xmlp,
                          nb_error_t *err)
{
  int outp[2], errp[2];
  int rc = NB_EINTERNAL;
  char *xml = NULL, *etext = NULL;
  size_t xlen = 0, xcap = 0, elen = 0, ecap = 0;
  const char *what = is_dir ? "recorded /sys tree" : "topology file";

  if (pipe2(outp, O_CLOEXEC) < 0)
    return nb__err_sys(err, NB_EINTERNAL, errno, "topology %s: pipe", path);
  if (pipe2(errp, O_CLOEXEC) < 0) {
    rc = nb__err_sys(err, NB_EINTERNAL, errno, "topology %s: pipe", path);
    goto out_close_out;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    rc = nb__err_sys(err, NB_EINTERNAL, errno, "topology %s: fork", path);
    goto out_close_err;
  }
  if (pid == 0) {
    close(outp[0]);
    close(errp[0]);
    dup2(errp[1], STDERR_FILENO);
    child_parse(path, is_dir, text, textlen, outp[1]);
  }
  close(outp[1]);
  close(errp[1]);
  outp[1] = errp[1] = -1;

  /* Read both pipes together so a chatty child cannot block on a full one. */
  struct pollfd pfd[2] = {{.fd = outp[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
  int open_fds = 2, io_err = 0;
  while (open_fds) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      io_err = errno;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      int r = i == 0 ? nb__input_append(pfd[i].fd, &xml, &xlen, &xcap, NB_TOPO_MAX_XML, 0)
                     : nb__input_append(pfd[i].fd, &etext, &elen, &ecap, 4096, 1);
      if (r < 0) {
        io_err = -r;
        r = 0;
      }
      if (r == 0) {
        pfd[i].fd = -1;
        open_fds--;
      }
    }
    if (io_err)
      break;
  }
  if (io_err)
    kill(pid, SIGKILL);
  int status = 0, waited;
  while ((waited = (int)waitpid(pid, &status, 0)) < 0 && errno == EINTR)
    ;

  char detail[256];
  first_line(etext, detail, sizeof detail);
  if (io_err == ENOMEM) {
    rc = nb__err(err, NB_ENOMEM, "topology %s: out of memory reading hwloc's output", path);
  } else if (io_err == EFBIG) {
    rc = nb__err(err, NB_EFORMAT, "%s %s: hwloc's view of it exceeds %zu MiB; check the input", what, path,
                 NB_TOPO_MAX_XML >> 20);
  } else if (waited < 0) {
    /* Someone else reaped the child (SIGCHLD ignored, waitpid(-1)): its fate
     * is unknown, so nothing it wrote is trusted. */
    rc = nb__err_sys(err, NB_EINTERNAL, errno, "topology %s: lost track of the parsing process", path);
  } else if (io_err) {
    rc = nb__err_sys(err, NB_EINTERNAL, io_err, "topology %s: reading hwloc's output", path);
  } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
    rc = nb__err(err, NB_EFORMAT, "%s %s: hwloc did not finish parsing it in %d s; check the input", what,
                 path, NB_TOPO_CHILD_TIMEOUT);
  } else if (WIFSIGNALED(status)) {
    rc = nb__err(err, NB_EFORMAT,
                 "%s %s: malformed (hwloc crashed parsing it: %s); regenerate it with `lstopo --of xml` "
                 "or hwloc-gather-topology",
                 what, path, strsignal(WTERMSIG(status)));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !xml || xlen == 0) {
    rc = nb__err(err, NB_EFORMAT, "%s %s: not a valid %s%s%s", what, path,
                 is_dir ? "recorded /sys tree" : "hwloc XML topology", *detail ? " (" : "",
                 *detail ? detail : "");
    if (*detail && err)
      strncat(err->msg, ")", sizeof err->msg - strlen(err->msg) - 1);
  } else {
    *xmlp = xml;
    xml = NULL;
    rc = 0;
  }
  free(xml);
  free(etext);
out_close_err:
  if (errp[0] >= 0)
    close(errp[0]);
  if (errp[1] >= 0)
    close(errp[1]);
out_close_out:
  if (outp[0] >= 0)
    close(outp[0]);
  if (outp[1] >= 0)
    close(outp[1]);
  return rc;
}

/* Cheap checks before hwloc sees the input, so that common mistakes get a
 * precise message. Sets *is_dir; for a file that is not regular (a pipe,
 * /dev/stdin) reads it whole into *text, since it cannot be opened twice. */
static int check_source(const char *path, int *is_dir, char **text, size_t *textlen, nb_error_t *err)
{
  struct stat st;
  *text = NULL;
  if (stat(path, &st) < 0)
    return nb__err_sys(
        err,
        errno == EIO                        ? NB_EIO
        : errno == EACCES || errno == EPERM ? NB_EINVAL
                                            : NB_ENOENT,
        errno, "topology %s: cannot open (give 'live', an hwloc XML file or a recorded /sys tree)", path);
  if (S_ISDIR(st.st_mode)) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/sys/devices/system/cpu", path);
    if (access(probe, R_OK | X_OK) < 0)
      return nb__err(err, NB_EFORMAT,
                     "topology %s: a directory but not a recorded /sys tree (no sys/devices/system/cpu "
                     "inside; record one with hwloc-gather-topology)",
                     path);
    *is_dir = 1;
    return 0;
  }
  *is_dir = 0;
  /* A pipe is documented (/dev/stdin); a device is not, and a FIFO without
   * a writer reads as empty rather than blocking. */
  int fd = nb__input_open("topology", path, NB_INPUT_PIPE, &st, err);
  if (fd < 0)
    return fd;
  if (S_ISREG(st.st_mode)) {
    /* The first non-blank byte says whether it can be XML. */
    char head[256];
    ssize_t got = read(fd, head, sizeof head);
    int e = errno;
    close(fd);
    if (got < 0)
      return nb__err_sys(err, NB_EIO, e, "topology %s: cannot read", path);
    ssize_t i = 0;
    while (i < got && strchr(" \t\r\n", head[i]))
      i++;
    if (got == 0 || (i == got && got < (ssize_t)sizeof head))
      return nb__err(err, NB_EFORMAT, "topology %s: empty file (expected hwloc XML from `lstopo --of xml`)",
                     path);
    if (i < got && head[i] != '<')
      return nb__err(err, NB_EFORMAT, "topology %s: not XML (expected hwloc XML from `lstopo --of xml`)",
                     path);
    return 0;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int r;
  while ((r = nb__input_append(fd, &buf, &len, &cap, NB_TOPO_MAX_XML, 0)) > 0)
    ;
  close(fd);
  if (r < 0) {
    free(buf);
    if (r == -EFBIG)
      return nb__err(err, NB_EFORMAT, "topology %s: larger than %zu MiB; not an hwloc XML topology", path,
                     NB_TOPO_MAX_XML >> 20);
    if (r == -ENOMEM)
      return nb__err(err, NB_ENOMEM, "topology %s: out of memory", path);
    return nb__err_sys(err, NB_EIO, -r, "topology %s: cannot read", path);
  }
  size_t skip = buf ? strspn(buf, " \t\r\n") : 0;
  if (!buf || skip == len) {
    free(buf);
    return nb__err(err, NB_EFORMAT, "topology %s: empty input (expected hwloc XML from `lstopo --of xml`)",
                   path);
  }
  if (buf[skip] != '<') {
    free(buf);
    return nb__err(err, NB_EFORMAT, "topology %s: not XML (expected hwloc XML from `lstopo --of xml`)", path);
  }
  *text = buf;
  *textlen = len;
  return 0;
}

int nb__topo_load_hwloc(struct nb_topo *topo, const char *source, nb_error_t *err)
{
  int live = !source || !*source || !strcmp(source, "live");
  int is_dir = 0, rc;
  char *xml = NULL, *text = NULL;
  size_t textlen = 0;

  topo->source = strdup(live ? "live" : source);
  if (!topo->source)
    return nb__err(err, NB_ENOMEM, "topology: out of memory");
  if (live) {
    topo->kind = NB_TOPO_LIVE;
    topo->sysroot = strdup("");
  } else {
    if ((rc = check_source(source, &is_dir, &text, &textlen, err)) < 0)
      return rc;
    topo->kind = is_dir ? NB_TOPO_FSROOT : NB_TOPO_XML;
    topo->sysroot = is_dir ? strdup(source) : NULL;
    if (is_dir && !topo->sysroot)
      return nb__err(err, NB_ENOMEM, "topology: out of memory");
    rc = parse_in_child(source, is_dir, text, textlen, &xml, err);
    free(text);
    if (rc < 0)
      return rc;
  }

  if (topo_prepare(&topo->hw) < 0) {
    free(xml);
    return nb__err_sys(err, NB_ENOMEM, errno, "topology: hwloc_topology_init");
  }
  if (xml && hwloc_topology_set_xmlbuffer(topo->hw, xml, (int)strlen(xml) + 1) < 0) {
    free(xml);
    return nb__err_sys(err, NB_EINTERNAL, errno, "topology %s: hwloc rejected its own export", source);
  }
  free(xml);
  if (hwloc_topology_load(topo->hw) < 0)
    return nb__err_sys(err, live ? NB_EINTERNAL : NB_EFORMAT, errno, "topology %s: hwloc_topology_load",
                       topo->source);
  const char *bad = check_indexes(topo->hw);
  if (bad)
    return nb__err(err, live ? NB_EINTERNAL : NB_EFORMAT, "topology %s: %s", topo->source, bad);
  if (live && !hwloc_topology_is_thissystem(topo->hw))
    return nb__err(err, NB_EINVAL,
                   "topology live: hwloc reads another system (HWLOC_XMLFILE, HWLOC_FSROOT or "
                   "HWLOC_SYNTHETIC is set in the environment); unset it or pass it as --topology");

  const char *v = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo->hw), "hwlocVersion");
  /* Recorded files may not say which hwloc wrote them: then it stays "". */
  snprintf(topo->hwloc_version, sizeof topo->hwloc_version, "%s", v ? v : "");
  return 0;
}
