#ifndef MEMO_CDNNL_SHIM_H
#define MEMO_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
/// DNNL_MEMORY_ALLOCATE is ((void *)(size_t)-1): a cast Swift does not import.
static inline void *swdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
#include <malloc.h>
/// Returns freed heap memory to the system (glibc); the engine calls it after releasing its
/// activation buffers.
static inline void swdnnl_release_free_memory(void) { malloc_trim(0); }
#endif
