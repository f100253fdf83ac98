// The system's libcrypt (libxcrypt, Debian libcrypt-dev): crypt_rn and crypt_gensalt_rn for bcrypt ($2b$/$2y$)
// and yescrypt ($y$) password hashes, as htpasswd -B and mkpasswd write them.
#include <crypt.h>
