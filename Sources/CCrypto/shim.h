/* OpenSSL's libcrypto, for the SHA-256 that checks BPF objects loaded from a directory. */
#include <openssl/evp.h>
