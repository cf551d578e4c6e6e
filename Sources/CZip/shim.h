#ifndef MEMO_CZIP_SHIM_H
#define MEMO_CZIP_SHIM_H
#include <zip.h>
/// The zip_stat `valid` bits are unsigned-suffixed macros; re-exported as constants Swift imports.
static const zip_uint64_t SWZIP_STAT_NAME = ZIP_STAT_NAME;
static const zip_uint64_t SWZIP_STAT_SIZE = ZIP_STAT_SIZE;
static const zip_uint64_t SWZIP_STAT_COMP_SIZE = ZIP_STAT_COMP_SIZE;
static const zip_uint64_t SWZIP_STAT_COMP_METHOD = ZIP_STAT_COMP_METHOD;
static const zip_uint64_t SWZIP_STAT_ENCRYPTION_METHOD = ZIP_STAT_ENCRYPTION_METHOD;
#endif
