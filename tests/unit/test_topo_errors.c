/* Unit tests: bad topology sources and --devices lists give one clear error
 * and never crash the caller, including inputs that crash hwloc itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbtest.h"

static char tmpdir[] = "/tmp/nbtest-XXXXXX";
static char *good_xml;
static size_t good_len;

static char *path_in_tmp(const char *name)
{
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static void write_file(const char *name, const char *data, size_t len)
{
  FILE *f = fopen(path_in_tmp(name), "w");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
  (void)state;
  if (!mkdtemp(tmpdir))
    return -1;
  FILE *f = fopen(NB_FIXTURES_DIR "/2s-8gpu-smt.xml", "r");
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  good_len = (size_t)ftell(f);
  rewind(f);
  good_xml = malloc(good_len + 1);
  if (fread(good_xml, 1, good_len, f) != good_len)
    return -1;
  good_xml[good_len] = '\0';
  fclose(f);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  free(good_xml);
  return system(cmd) == 0 ? 0 : -1;
}

static void expect_error(const char *source, const char *devices, int code, const char *text)
{
  nb_topo_t topo = (nb_topo_t)1;
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.source = source, .devices = devices, .no_cuda = true};
  int rc = nb_topo_load(&topo, &cfg, &err);
  if (rc != code)
    fail_msg("%s %s: got %s (%s), want %s", source, devices ? devices : "", nb_err_name(rc), err.msg,
             nb_err_name(code));
  assert_null(topo);
  assert_int_equal(err.code, code);
  assert_null(strchr(err.msg, '\n'));
  if (!strstr(err.msg, text))
    fail_msg("message '%s' lacks '%s'", err.msg, text);
}

static void test_bad_sources(void **state)
{
  (void)state;
  expect_error(path_in_tmp("missing.xml"), NULL, NB_ENOENT, "missing.xml: cannot open");

  write_file("empty.xml", "", 0);
  expect_error(path_in_tmp("empty.xml"), NULL, NB_EFORMAT, "empty file");

  write_file("blank.xml", "  \n\n", 4);
  expect_error(path_in_tmp("blank.xml"), NULL, NB_EFORMAT, "empty file");

  write_file("garbage.xml",
             "\x7f"
             "ELF\x01\x02",
             6);
  expect_error(path_in_tmp("garbage.xml"), NULL, NB_EFORMAT, "not XML");

  static const char html[] = "<html><body>not a topology</body></html>\n";
  write_file("html.xml", html, sizeof html - 1);
  expect_error(path_in_tmp("html.xml"), NULL, NB_EFORMAT, "not a valid hwloc XML topology");

  write_file("truncated.xml", good_xml, good_len / 3);
  expect_error(path_in_tmp("truncated.xml"), NULL, NB_EFORMAT, "truncated.xml");

  /* hwloc 2.9 dereferences a missing complete_cpuset: the child crashes,
   * the caller gets an error. */
  char *nocc = strdup(good_xml), *at = strstr(nocc, " complete_cpuset=\"");
  assert_non_null(at);
  char *end = strchr(at + 18, '"');
  memmove(at, end + 1, strlen(end + 1) + 1);
  write_file("no-complete-cpuset.xml", nocc, strlen(nocc));
  free(nocc);
  expect_error(path_in_tmp("no-complete-cpuset.xml"), NULL, NB_EFORMAT, "malformed");

  assert_int_equal(mkdir(path_in_tmp("notatree"), 0755), 0);
  expect_error(path_in_tmp("notatree"), NULL, NB_EFORMAT, "not a recorded /sys tree");
}

static void test_bad_devices(void **state)
{
  (void)state;
  const char *xml = NB_FIXTURES_DIR "/2s-8gpu-smt.xml";
  expect_error(xml, "zz", NB_EINVAL, "'zz' is not a PCI bus id");
  expect_error(xml, "0000:10:1c.0,0000:10:1c", NB_EINVAL, "'0000:10:1c' is not a PCI bus id");
  expect_error(xml, "0000:99:00.0", NB_ENOENT, "no PCI device 0000:99:00.0");
  expect_error(xml, "10:1c.0,0000:10:1C.0", NB_EINVAL, "listed twice");
  expect_error(xml, ",", NB_EINVAL, "empty list");
  expect_error(xml, "", NB_EINVAL, "empty list");
}

/* Many damaged variants of a good file: each loads or fails with
 * NB_EFORMAT; none may crash this process or leak a child. */
static void test_damaged_variants(void **state)
{
  (void)state;
  static const char *const attrs[] = {
      "cpuset",   "complete_cpuset", "nodeset", "complete_nodeset", "os_index", "local_memory", "pci_busid",
      "pci_type", "bridge_pci",      "type",    "allowed_cpuset",   "name"};
  int variants = 0, loaded = 0;
  for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++) {
    for (int all = 0; all < 2; all++) {
      char *s = strdup(good_xml), needle[64];
      snprintf(needle, sizeof needle, " %s=\"", attrs[a]);
      for (char *at = strstr(s, needle); at; at = all ? strstr(at, needle) : NULL) {
        char *end = strchr(at + strlen(needle), '"');
        memmove(at, end + 1, strlen(end + 1) + 1);
      }
      write_file("variant.xml", s, strlen(s));
      free(s);
      nb_topo_t topo = NULL;
      nb_error_t err = {0};
      struct nb_topo_config cfg = {.source = path_in_tmp("variant.xml"), .no_cuda = true};
      int rc = nb_topo_load(&topo, &cfg, &err);
      if (rc != 0 && rc != NB_EFORMAT)
        fail_msg("without %s (%s): %s: %s", attrs[a], all ? "all" : "first", nb_err_name(rc), err.msg);
      loaded += rc == 0;
      variants++;
      nb_topo_free(topo);
    }
  }
  for (size_t cut = 1; cut < good_len; cut += good_len / 16 + 1) {
    write_file("variant.xml", good_xml, cut);
    nb_topo_t topo = NULL;
    struct nb_topo_config cfg = {.source = path_in_tmp("variant.xml"), .no_cuda = true};
    int rc = nb_topo_load(&topo, &cfg, NULL);
    assert_true(rc == 0 || rc == NB_EFORMAT);
    nb_topo_free(topo);
    variants++;
  }
  print_message("%d damaged variants, %d still loadable, none crashed\n", variants, loaded);
  assert_true(variants > 30);
}

/* Inconsistent indexes that hwloc accepts but the model cannot hold. */
static void test_inconsistent_indexes(void **state)
{
  (void)state;
  /* Two NUMA nodes numbered 0. */
  char *s = strdup(good_xml), *at = strstr(s, "type=\"NUMANode\" os_index=\"1\"");
  assert_non_null(at);
  at[strlen("type=\"NUMANode\" os_index=\"")] = '0';
  write_file("dup-node.xml", s, strlen(s));
  free(s);
  expect_error(path_in_tmp("dup-node.xml"), NULL, NB_EFORMAT, "");

  /* A PU whose index is not its cpuset's CPU. */
  s = strdup(good_xml);
  at = strstr(s, "type=\"PU\" os_index=\"48\"");
  assert_non_null(at);
  memcpy(at + strlen("type=\"PU\" os_index=\""), "47", 2);
  write_file("pu-mismatch.xml", s, strlen(s));
  free(s);
  expect_error(path_in_tmp("pu-mismatch.xml"), NULL, NB_EFORMAT, "");

  /* A node memory no machine has: summing it would overflow. */
  s = strdup(good_xml);
  at = strstr(s, "local_memory=\"");
  assert_non_null(at);
  at += strlen("local_memory=\"");
  char *end = strchr(at, '"');
  size_t tail = strlen(end) + 1;
  char *t = malloc(strlen(s) + 32);
  memcpy(t, s, (size_t)(at - s));
  strcpy(t + (at - s), "18446744073709551615");
  memcpy(t + strlen(t), end, tail);
  write_file("huge-memory.xml", t, strlen(t));
  free(s);
  free(t);
  expect_error(path_in_tmp("huge-memory.xml"), NULL, NB_EFORMAT, "inconsistent topology");
}

/* A second latency matrix (a user's) must not hide the firmware's. */
static void test_two_distance_matrices(void **state)
{
  (void)state;
  static const char user[] =
      "  <distances2 type=\"NUMANode\" nbobjs=\"2\" kind=\"6\" name=\"mine\" indexing=\"os\">\n"
      "    <indexes length=\"3\">0 1</indexes>\n"
      "    <u64values length=\"11\">10 99 99 10</u64values>\n  </distances2>\n";
  char *s = malloc(good_len + sizeof user), *end = strstr(good_xml, "</topology>");
  assert_non_null(end);
  size_t head = (size_t)(end - good_xml);
  memcpy(s, good_xml, head);
  strcpy(s + head, user);
  strcat(s, end);
  write_file("two-matrices.xml", s, strlen(s));
  free(s);
  nb_topo_t topo = nbt_load(path_in_tmp("two-matrices.xml"), NULL);
  assert_int_equal(nb_topo_distance_origin(topo), NB_DIST_FIRMWARE);
  assert_int_equal(nb_topo_distance(topo, 0, 1), 21);
  assert_int_equal(nb_topo_nwarnings(topo), 0);
  nb_topo_free(topo);
}

/* hwloc's environment must not make the live machine read another one. */
static void test_live_env_override(void **state)
{
  (void)state;
  setenv("HWLOC_XMLFILE", NB_FIXTURES_DIR "/2s-8gpu-smt.xml", 1);
  expect_error("live", NULL, NB_EINVAL, "HWLOC_");
  unsetenv("HWLOC_XMLFILE");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_sources),           cmocka_unit_test(test_bad_devices),
      cmocka_unit_test(test_damaged_variants),      cmocka_unit_test(test_inconsistent_indexes),
      cmocka_unit_test(test_two_distance_matrices), cmocka_unit_test(test_live_env_override),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
