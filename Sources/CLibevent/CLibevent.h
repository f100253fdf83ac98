// The libevent 2.1 API the gateway uses: event loop, evbuffers, listeners.
//
// System headers come first, on purpose: event2/event-config.h defines _GNU_SOURCE, and a glibc header
// included textually after that gets different struct layouts (fd_set) than the same header in Swift's Glibc
// module, which the compiler then refuses as two conflicting definitions. Included first, they are imported
// from the Glibc module and libevent's later includes are no-ops.
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
#include <unistd.h>
#include <sys/eventfd.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <event2/util.h>
