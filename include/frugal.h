/* frugal — a C runtime for small language models where memory is the limit.
 *
 * This is the public API of libfrugal. Every part of the library (src/<part>/) has its
 * own header with the fg_ prefix; this header gathers what clients (the `frugal`
 * command, the server, the suite harness, other programs) need.
 *
 * Conventions: functions return fg_status; on failure a one-line message naming the
 * problem is available from fg_last_error() (thread-local). The library never exits
 * and never prints: it logs through fg_set_log(). */
#ifndef FRUGAL_H
#define FRUGAL_H

#include "core/status.h"
#include "core/core.h"
#include "mem/mem.h"
#include "format/format.h"
#include "model/model.h"

#endif
