/* numabench: public API. */
#ifndef NUMABENCH_H
#define NUMABENCH_H

#include <numabench/error.h>
#include <numabench/version.h>
#include <numabench/topo.h>
#include <numabench/opts.h>

#endif
