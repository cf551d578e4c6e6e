#ifndef MEMO_CDNNL_SHIM_H
#define MEMO_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
/// DNNL_MEMORY_ALLOCATE is ((void *)(size_t)-1): a cast Swift does not import.
static inline void *swdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
#endif
