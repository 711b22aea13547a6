/* numabench: public API. */
#ifndef NUMABENCH_H
#define NUMABENCH_H

#include <numabench/error.h>
#include <numabench/version.h>
#include <numabench/topo.h>
#include <numabench/host.h>
#include <numabench/cgroup.h>
#include <numabench/opts.h>
#include <numabench/plan.h>
#include <numabench/bind.h>
#include <numabench/audit.h>
#include <numabench/gen.h>
#include <numabench/run.h>
#include <numabench/experiment.h>
#include <numabench/stats.h>
#include <numabench/results.h>
#include <numabench/bw.h>
#include <numabench/job_audit.h>
#include <numabench/exec.h>
#include <numabench/launch.h>
#include <numabench/probe.h>

#endif
