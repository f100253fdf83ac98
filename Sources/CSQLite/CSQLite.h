// SQLite 3 (Debian libsqlite3-dev), for the embedded session store.
#include <sqlite3.h>
