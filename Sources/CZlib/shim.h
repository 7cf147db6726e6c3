#ifndef PUSHGATE_CZLIB_SHIM_H
#define PUSHGATE_CZLIB_SHIM_H
// zlib (Debian zlib1g-dev): gzip request bodies of the list service.
#include <zlib.h>
#endif
