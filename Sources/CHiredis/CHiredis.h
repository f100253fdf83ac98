// hiredis 0.14 (Debian libhiredis-dev): the async API and its libevent adapter, for the Redis session store.
// Only GatehouseSessions/Redis/RedisConnection.swift imports this module.
//
// System headers come first, on purpose (see CLibevent.h): event2/event-config.h defines _GNU_SOURCE, and a glibc
// header included textually after that gets different struct layouts (fd_set) than the same header in Swift's
// Glibc module, which the compiler then refuses as two conflicting definitions. Included first, they are imported
// from the Glibc module and the later includes are no-ops.
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <event2/event.h>
// The adapter is a header of static functions: redisLibeventAttach(ac, base) registers the context's socket with
// the base; hiredis then adds and removes its read/write events itself and frees them in redisAsyncFree.
#include <hiredis/adapters/libevent.h>
