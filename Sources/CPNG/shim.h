#ifndef MEMO_CPNG_SHIM_H
#define MEMO_CPNG_SHIM_H
#include <png.h>
/// PNG_IMAGE_SIZE is a function-like macro and PNG_FORMAT_RGBA/GA are bit-or macros that Swift
/// does not import; the simplified png_image API is used so no longjmp crosses Swift frames.
static inline size_t swpng_image_size(const png_image *img) { return PNG_IMAGE_SIZE(*img); }
static const png_uint_32 SWPNG_FORMAT_GRAY = PNG_FORMAT_GRAY;
static const png_uint_32 SWPNG_FORMAT_GA   = PNG_FORMAT_GA;
static const png_uint_32 SWPNG_FORMAT_RGB  = PNG_FORMAT_RGB;
static const png_uint_32 SWPNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static const png_uint_32 SWPNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
#endif
