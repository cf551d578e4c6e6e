#ifndef MEMO_CZLIB_SHIM_H
#define MEMO_CZLIB_SHIM_H
#include <zlib.h>
/// inflateInit2 is a macro (it passes the zlib version and struct size).
static inline int swz_inflateInit2(z_streamp s, int bits) { return inflateInit2(s, bits); }
#endif
