// Moved to lib/testing/tls_certs.h (with the TlsFixture test suite); this
// name stays for tests that include it.
#ifndef HWCAST_LIB_TLS_TEST_UTIL_H_
#define HWCAST_LIB_TLS_TEST_UTIL_H_

#include "lib/testing/tls_certs.h"  // IWYU pragma: export

#endif  // HWCAST_LIB_TLS_TEST_UTIL_H_
