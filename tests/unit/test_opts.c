/* Unit tests: the option table and setting options from text. */
#include <ctype.h>
#include <string.h>

#include "nbtest.h"

static void test_table_well_formed(void **state)
{
  (void)state;
  int n;
  const struct nb_option *opts = nb_options(&n);
  assert_true(n > 0);
  for (int i = 0; i < n; i++) {
    assert_non_null(opts[i].name);
    assert_non_null(opts[i].help);
    assert_true(strlen(opts[i].help) > 10);
    assert_true(opts[i].commands != 0);
    char mv[128];
    if (opts[i].type != NB_OPT_BOOL && !nb_option_metavar(&opts[i], mv, sizeof mv))
      fail_msg("--%s takes a value but has no metavar for --help", opts[i].name);
    if ((opts[i].type == NB_OPT_ENUM) != (opts[i].choices != NULL))
      fail_msg("--%s: choices belong to enums, and every enum has them", opts[i].name);
    /* Every default in the table is a valid value. */
    struct nb_config cfg;
    assert_int_equal(nb_config_init(&cfg), 0);
    assert_int_equal(nb_config_finish(&cfg, opts[i].commands), 0);
    nb_config_free(&cfg);
    for (const char *c = opts[i].name; *c; c++)
      assert_true(islower((unsigned char)*c) || *c == '-');
    for (int j = 0; j < i; j++) {
      assert_string_not_equal(opts[i].name, opts[j].name);
      if (opts[i].short_name)
        assert_int_not_equal(opts[i].short_name, opts[j].short_name);
    }
    assert_ptr_equal(nb_option_find(opts[i].name), &opts[i]);
  }
  assert_null(nb_option_find("no-such-option"));
}

static void test_defaults_and_set(void **state)
{
  (void)state;
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  const struct nb_option *topology = nb_option_find("topology"), *json = nb_option_find("json"),
                         *devices = nb_option_find("devices");
  assert_string_equal(cfg.topology, "live");
  assert_false(cfg.json);
  assert_null(cfg.devices);
  assert_false(nb_config_is_set(&cfg, topology));

  assert_int_equal(nb_config_set(&cfg, topology, "machine.xml", &err), 0);
  assert_string_equal(cfg.topology, "machine.xml");
  assert_true(nb_config_is_set(&cfg, topology));
  assert_false(nb_config_is_set(&cfg, json));

  assert_int_equal(nb_config_set(&cfg, json, NULL, &err), 0);
  assert_true(cfg.json);
  assert_int_equal(nb_config_set(&cfg, json, "false", &err), 0);
  assert_false(cfg.json);
  assert_int_equal(nb_config_set(&cfg, json, "maybe", &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--json"));

  assert_int_equal(nb_config_set(&cfg, devices, "", &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--devices"));
  assert_false(nb_config_is_set(&cfg, devices));
  nb_config_free(&cfg);
  assert_null(cfg.topology);
}

/* One value of one option: accepted (err NULL) or refused with exactly this
 * message. */
struct value_case {
  const char *option, *value;
  const char *err;
};

static const struct value_case value_cases[] = {
    /* NB_OPT_ENUM: every choice, a wrong one (the message lists the choices
     * or says the option's own text), an empty one (the metavar). */
    {"pipeline", "torch", NULL},
    {"pipeline", "direct", NULL},
    {"pipeline", "fast", "--pipeline 'fast': expected torch or direct"},
    {"pipeline", "Torch", "--pipeline 'Torch': expected torch or direct"},
    {"backend", "cuda", NULL},
    {"backend", "gpu", "--backend 'gpu': expected auto, host or cuda"},
    {"pin", "mlock", "--pin 'mlock': expected register or hostalloc"},
    {"format", "csv", NULL},
    {"format", "xml", "--format 'xml': expected text, md, csv or json"},
    {"emit", "numactl", NULL},
    {"emit", "srun", "--emit 'srun': expected numactl, torchrun or script"},
    {"emit", "", "--emit needs a value (numactl|torchrun|script)"},
    {"format", "", "--format needs a value (text|md|csv|json)"},
    /* NB_OPT_SIZE: suffixes, the 4K floor, words, signs. */
    {"size", "4K", NULL},
    {"size", "4096", NULL},
    {"size", "1.5M", NULL},
    {"size", "2GiB", NULL},
    {"size", "64mB", NULL},
    {"size", "4095", "--size '4095': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "1K", "--size '1K': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "0", "--size '0': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "4Q", "--size '4Q': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "-8M", "--size '-8M': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "abc", "--size 'abc': expected a size of at least 4K, e.g. 64M or 1G"},
    {"size", "8MiBx", "--size '8MiBx': expected a size of at least 4K, e.g. 64M or 1G"},
    /* Too big is not "at least 4K". */
    {"size", "1000000000000000", NULL},
    {"size", "1000000000000001",
     "--size '1000000000000001': larger than any machine's memory (at most 1e15 bytes, e.g. 64M or 1G)"},
    {"size", "99999999999G",
     "--size '99999999999G': larger than any machine's memory (at most 1e15 bytes, e.g. 64M or 1G)"},
    /* NB_OPT_SHAPE: three positive sizes, at most 2^28 values. */
    {"sample", "3x224x224", NULL},
    {"sample", "1x1x1", NULL},
    {"sample", "1x16384x16384", NULL},
    {"sample", "2x16384x16384",
     "--sample '2x16384x16384': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x16",
     "--sample '3x16': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x16x16x2",
     "--sample '3x16x16x2': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "0x16x16",
     "--sample '0x16x16': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x-16x16",
     "--sample '3x-16x16': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    /* Issue 14: 4294967297 wrapped to 1 through sscanf's %d. */
    {"sample", "3x4294967297x1",
     "--sample '3x4294967297x1': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x99999999999999999999x1",
     "--sample '3x99999999999999999999x1': expected CxHxW with positive sizes and at most 2^28 values, e.g. "
     "3x224x224"},
    {"sample", "3x+4x4",
     "--sample '3x+4x4': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", " 3x4x4",
     "--sample ' 3x4x4': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x 4x4",
     "--sample '3x 4x4': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3x4x4 ",
     "--sample '3x4x4 ': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "3X4X4",
     "--sample '3X4X4': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sample", "268435456x1x1", NULL},
    {"sample", "268435457x1x1",
     "--sample '268435457x1x1': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    /* NB_OPT_MODES: names of the planner's modes, each once. */
    {"mode", "bind", NULL},
    {"mode", "none,bind,adversarial,remote,interleave", NULL},
    {"mode", "fast",
     "--mode 'fast': unknown mode 'fast' (modes: none, bind, adversarial, remote, interleave)"},
    {"mode", "none,", "--mode 'none,': unknown mode '' (modes: none, bind, adversarial, remote, interleave)"},
    {"mode", "bind,none,bind", "--mode 'bind,none,bind': bind is listed twice"},
    {"mode", "", "--mode needs a value (MODE[,MODE...])"},
    /* NB_OPT_FAULT: a stage and a batch from 0. */
    {"fail-at", "worker:3", NULL},
    {"fail-at", "feeder:0", NULL},
    {"fail-at", "device:12", NULL},
    {"fail-at", "corrupt:5", NULL},
    {"fail-at", "somewhere", "--fail-at 'somewhere': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "gpu:1", "--fail-at 'gpu:1': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "worker:", "--fail-at 'worker:': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "worker:-1", "--fail-at 'worker:-1': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "worker:3x", "--fail-at 'worker:3x': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "worker3", "--fail-at 'worker3': expected worker:N, feeder:N, device:N or corrupt:N"},
    /* Issue 14: a batch past any run was accepted and never fired. */
    {"fail-at", "worker:33554431", NULL},
    {"fail-at", "worker:33554432",
     "--fail-at 'worker:33554432': batch '33554432' is out of range: a run has at most 33554432 batches (0 "
     "to "
     "33554431)"},
    {"fail-at", "worker:99999999999999999999",
     "--fail-at 'worker:99999999999999999999': batch '99999999999999999999' is out of range: a run has at "
     "most "
     "33554432 batches (0 to 33554431)"},
    {"fail-at", "worker:+3", "--fail-at 'worker:+3': expected worker:N, feeder:N, device:N or corrupt:N"},
    {"fail-at", "worker: 3", "--fail-at 'worker: 3': expected worker:N, feeder:N, device:N or corrupt:N"},
    /* NB_OPT_GPUS: the syntax only (the planner checks which GPUs exist). */
    {"gpus", "8", NULL},
    {"gpus", "0,2,5", NULL},
    {"gpus", "4-7", NULL},
    {"gpus", "5-5,0", NULL},
    {"gpus", "0", "--gpus '0': give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)"},
    {"gpus", "x", "--gpus 'x': give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)"},
    {"gpus", "99999999999999999999", "--gpus '99999999999999999999': count out of range (1 to 2147483647)"},
    {"gpus", "0-99999999999999999999",
     "--gpus '0-99999999999999999999': GPU index out of range (0 to 2147483647) after '0-'"},
    {"gpus", "99999999999999999999-1",
     "--gpus '99999999999999999999-1': GPU index out of range (0 to 2147483647) before '-1'"},
    {"gpus", "00", "--gpus '00': give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)"},
    {"gpus", "3-1", "--gpus '3-1': bad range before '-1'"},
    {"gpus", "0,", "--gpus '0,': '' is not a GPU index or range"},
    {"gpus", "-1", "--gpus '-1': '-1' is not a GPU index or range"},
    {"gpus", "1--2", "--gpus '1--2': bad range before '--2'"},
    {"gpus", "1-2-3", "--gpus '1-2-3': unexpected '-3'"},
    /* NB_OPT_GPU_NODES: the syntax only. */
    {"gpu-node", "3=1", NULL},
    {"gpu-node", "0=1,1=0", NULL},
    {"gpu-node", "0", "--gpu-node '0': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "x=1", "--gpu-node 'x=1': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "0=", "--gpu-node '0=': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "0=1,", "--gpu-node '0=1,': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "0=1;1=0", "--gpu-node '0=1;1=0': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "-1=0", "--gpu-node '-1=0': GPU or node out of range (0 to 2147483647) before '=0'"},
    {"gpu-node", "0=+1", "--gpu-node '0=+1': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", " 0=1", "--gpu-node ' 0=1': expected GPU=NODE[,GPU=NODE...], e.g. 3=1"},
    {"gpu-node", "99999999999999999999=1",
     "--gpu-node '99999999999999999999=1': GPU or node out of range (0 to 2147483647) before '=1'"},
    {"gpu-node", "0=99999999999999999999",
     "--gpu-node '0=99999999999999999999': GPU or node out of range (0 to 2147483647) before ''"},
    /* NB_OPT_INT: the bounds. */
    {"threshold", "0", NULL},
    {"threshold", "100", NULL},
    {"threshold", "101", "--threshold 101: out of range (0 to 100)"},
    {"threshold", "-1", "--threshold -1: out of range (0 to 100)"},
    {"threshold", "5x", "--threshold: '5x' is not an integer"},
    /* The one strict integer parser: overflow is out of range, never
     * wrapped; no spaces, '+', hex, exponents or "-0". */
    {"threshold", "99999999999999999999", "--threshold 99999999999999999999: out of range (0 to 100)"},
    {"threshold", "18446744073709551621", "--threshold 18446744073709551621: out of range (0 to 100)"},
    {"threshold", "-9223372036854775809", "--threshold -9223372036854775809: out of range (0 to 100)"},
    {"threshold", "007", NULL},
    {"threshold", " 5", "--threshold: ' 5' is not an integer"},
    {"threshold", "5 ", "--threshold: '5 ' is not an integer"},
    {"threshold", "+5", "--threshold: '+5' is not an integer"},
    {"threshold", "-0", "--threshold: '-0' is not an integer"},
    {"threshold", "0x10", "--threshold: '0x10' is not an integer"},
    {"threshold", "1e1", "--threshold: '1e1' is not an integer"},
    {"threshold", "-", "--threshold: '-' is not an integer"},
    {"check-move-staging", "-1", NULL},
    {"check-move-staging", "-2", "--check-move-staging -2: out of range (-1 to 4095)"},
    {"seed", "2147483647", NULL},
    {"seed", "2147483648", "--seed 2147483648: out of range (0 to 2147483647)"},
    {"seed", "4294967297", "--seed 4294967297: out of range (0 to 2147483647)"},
    /* --sweep: every value checked when the option is set (issue 14: a value
     * over 127 characters was cut, and a bad value refused only after the
     * points before it had run). */
    {"sweep", "gpu-work=0,2000", NULL},
    {"sweep", "sample=3x16x16,1x8x8", NULL},
    {"sweep",
     "gpu-work=0,"
     "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "1111111111111111111111111",
     "--sweep gpu-work: value 2 is 128 characters long (at most 127)"},
    {"sweep", "gpu-work=0,99999999999999999999",
     "--gpu-work 99999999999999999999: out of range (0 to 60000000)"},
    {"sweep", "sample=3x16x16,3x4294967297x1",
     "--sample '3x4294967297x1': expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224"},
    {"sweep", "workers=1,,2", "--workers: '' is not an integer"},
    {"sweep", "seed=1,2",
     "--sweep 'seed=1,2': expected OPTION=V1,V2,... with OPTION one of gpu-work, workers, batch, sample, "
     "pipeline, steps, gpus, cpu-work, source"},
    /* NB_OPT_BOOL. */
    {"json", "true", NULL},
    {"json", "0", NULL},
    {"json", "yes", "--json: 'yes' is not a boolean (true, false, 1 or 0)"},
};

static void test_values(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
    const struct value_case *c = &value_cases[i];
    struct nb_config cfg;
    nb_error_t err = {0};
    assert_int_equal(nb_config_init(&cfg), 0);
    const struct nb_option *opt = nb_option_find(c->option);
    assert_non_null(opt);
    int rc = nb_config_set(&cfg, opt, c->value, &err);
    if (!c->err && rc != 0)
      fail_msg("--%s '%s': refused: %s", c->option, c->value, err.msg);
    if (c->err && (rc != NB_EINVAL || strcmp(err.msg, c->err)))
      fail_msg("--%s '%s': got %d '%s', want NB_EINVAL '%s'", c->option, c->value, rc, err.msg, c->err);
    /* A refused value leaves the option as it was, not set. */
    assert_int_equal(nb_config_is_set(&cfg, opt), !c->err);
    nb_config_free(&cfg);
  }
}

/* The parsed values, beside the text kept for the result files. */
static void test_typed_values(void **state)
{
  (void)state;
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  assert_int_equal(cfg.shape.c * cfg.shape.h * cfg.shape.w, 3 * 1024 * 1024);
  assert_int_equal(cfg.size_bytes, 64 << 20);
  assert_int_equal(cfg.pipeline_kind, NB_OPT_PIPE_TORCH);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("sample"), "3x224x200", &err), 0);
  assert_int_equal(cfg.shape.c, 3);
  assert_int_equal(cfg.shape.h, 224);
  assert_int_equal(cfg.shape.w, 200);
  assert_string_equal(cfg.sample, "3x224x200");
  assert_int_equal(nb_config_set(&cfg, nb_option_find("size"), "1.5K", &err), NB_EINVAL);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("size"), "6K", &err), 0);
  assert_int_equal(cfg.size_bytes, 6144);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("size"), "1G", &err), 0);
  assert_int_equal(cfg.size_bytes, 1 << 30);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("backend"), "host", &err), 0);
  assert_int_equal(cfg.backend_kind, NB_OPT_BACKEND_HOST);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("pin"), "hostalloc", &err), 0);
  assert_int_equal(cfg.pin_kind, NB_OPT_PIN_HOSTALLOC);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("mode"), "remote,none", &err), 0);
  assert_int_equal(cfg.modes.n, 2);
  assert_int_equal(cfg.modes.mode[0], NB_MODE_REMOTE);
  assert_int_equal(cfg.modes.mode[1], NB_MODE_NONE);
  /* A refused value keeps the previous one, text and value. */
  assert_int_equal(nb_config_set(&cfg, nb_option_find("mode"), "bind,bind", &err), NB_EINVAL);
  assert_string_equal(cfg.mode, "remote,none");
  assert_int_equal(cfg.modes.n, 2);
  assert_int_equal(cfg.fault.stage, NB_FAULT_NONE);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("fail-at"), "corrupt:7", &err), 0);
  assert_int_equal(cfg.fault.stage, NB_FAULT_CORRUPT);
  assert_int_equal(cfg.fault.batch, 7);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("gpus"), "0,4-7", &err), 0);
  assert_int_equal(cfg.gpu_select.count, 0);
  assert_int_equal(cfg.gpu_select.n, 2);
  assert_int_equal(cfg.gpu_select.range[1].lo, 4);
  assert_int_equal(cfg.gpu_select.range[1].hi, 7);
  assert_string_equal(cfg.gpu_select.text, "0,4-7");
  assert_int_equal(nb_config_set(&cfg, nb_option_find("gpus"), "3", &err), 0);
  assert_int_equal(cfg.gpu_select.count, 3);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("gpu-node"), "2=1,0=3", &err), 0);
  assert_int_equal(cfg.gpu_nodes.n, 2);
  assert_int_equal(cfg.gpu_nodes.item[1].gpu, 0);
  assert_int_equal(cfg.gpu_nodes.item[1].node, 3);
  struct nb_config copy;
  assert_int_equal(nb_config_copy(&copy, &cfg), 0);
  assert_int_equal(copy.modes.n, 2);
  assert_string_equal(copy.sample, "3x224x200");
  assert_ptr_not_equal(copy.sample, cfg.sample);
  nb_config_free(&copy);
  nb_config_free(&cfg);
}

/* Per-command defaults go to the value only: result files still record
 * that the user gave no --mode. */
static void test_command_defaults(void **state)
{
  (void)state;
  static const struct {
    unsigned command;
    int nmodes, repeat;
  } cases[] = {{NB_CMD_PLAN, 1, 1}, {NB_CMD_RUN, 3, 1}, {NB_CMD_BW, 0, 5}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct nb_config cfg;
    assert_int_equal(nb_config_init(&cfg), 0);
    assert_int_equal(nb_config_finish(&cfg, cases[i].command), 0);
    assert_int_equal(cfg.modes.n, cases[i].nmodes);
    assert_int_equal(cfg.repeat, cases[i].repeat);
    assert_null(cfg.mode);
    nb_config_free(&cfg);
  }
  /* What the user set stays. */
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("repeat"), "2", &err), 0);
  assert_int_equal(nb_config_set(&cfg, nb_option_find("mode"), "interleave", &err), 0);
  assert_int_equal(nb_config_finish(&cfg, NB_CMD_BW | NB_CMD_RUN), 0);
  assert_int_equal(cfg.repeat, 2);
  assert_int_equal(cfg.modes.n, 1);
  assert_int_equal(cfg.modes.mode[0], NB_MODE_INTERLEAVE);
  nb_config_free(&cfg);
}

/* Issue 14: a --fail-at batch past the run's last batch was accepted and
 * never fired. */
static void test_fail_at_reached(void **state)
{
  (void)state;
  static const struct {
    const char *fail_at, *steps, *sweep;
    int ok;
  } cases[] = {
      {"worker:109", NULL, NULL, 1},         {"worker:110", NULL, NULL, 0},
      {"corrupt:4", "5", NULL, 1},           {"corrupt:15", "5", NULL, 0},
      {"feeder:12", NULL, "steps=200,3", 1}, {"feeder:13", NULL, "steps=200,3", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct nb_config cfg;
    nb_error_t err = {0};
    assert_int_equal(nb_config_init(&cfg), 0);
    assert_int_equal(nb_config_set(&cfg, nb_option_find("fail-at"), cases[i].fail_at, &err), 0);
    if (cases[i].steps)
      assert_int_equal(nb_config_set(&cfg, nb_option_find("steps"), cases[i].steps, &err), 0);
    if (cases[i].sweep)
      assert_int_equal(nb_config_set(&cfg, nb_option_find("sweep"), cases[i].sweep, &err), 0);
    assert_int_equal(nb_config_finish(&cfg, NB_CMD_RUN), 0);
    int rc = nb_config_check(&cfg, NB_CMD_RUN, &err);
    if (cases[i].ok ? rc != 0 : rc != NB_EINVAL || !strstr(err.msg, "never reached"))
      fail_msg("--fail-at %s: got %d '%s'", cases[i].fail_at, rc, err.msg);
    nb_config_free(&cfg);
  }
}

/* The sweepable options are flagged in the table. */
static void test_sweepable(void **state)
{
  (void)state;
  static const char *const yes[] = {"gpu-work", "workers", "batch",    "sample", "pipeline",
                                    "steps",    "gpus",    "cpu-work", "source"};
  int n, count = 0;
  const struct nb_option *opts = nb_options(&n);
  for (int i = 0; i < n; i++)
    count += (opts[i].flags & NB_OPT_SWEEPABLE) != 0;
  assert_int_equal(count, (int)(sizeof yes / sizeof yes[0]));
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    assert_true(nb_option_find(yes[i])->flags & NB_OPT_SWEEPABLE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_well_formed),
      cmocka_unit_test(test_defaults_and_set),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_typed_values),
      cmocka_unit_test(test_command_defaults),
      cmocka_unit_test(test_sweepable),
      cmocka_unit_test(test_fail_at_reached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
