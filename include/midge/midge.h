/* midge: everything a program on a POSIX system usually needs. */
#ifndef MIDGE_H
#define MIDGE_H

#define MIDGE_VERSION "0.1.0"

#include "midge/brokers.h"
#include "midge/client.h"
#include "midge/codec.h"
#include "midge/config.h"
#include "midge/port.h"
#include "midge/session.h"
#include "midge/status.h"
#include "midge/transport.h"

#endif /* MIDGE_H */
