#ifndef MEMO_CHDF5_SHIM_H
#define MEMO_CHDF5_SHIM_H
#include <hdf5.h>
/// HDF5's H5T_NATIVE_*, H5T_C_S1 and H5F_ACC_* are macros expanding to comma expressions that call
/// H5open()/H5check(); Swift cannot import them, so these inline functions stand in for them.
static inline hid_t swh5_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t swh5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t swh5_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t swh5_native_int32(void)  { return H5T_NATIVE_INT32; }
static inline hid_t swh5_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t swh5_c_s1(void)          { return H5T_C_S1; }
static inline unsigned swh5_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned swh5_acc_excl(void)   { return H5F_ACC_EXCL; }
static inline unsigned swh5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned swh5_acc_rdwr(void)   { return H5F_ACC_RDWR; }
static inline hid_t swh5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t swh5_p_dataset_xfer(void) { return H5P_DATASET_XFER; }
static inline hid_t swh5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t swh5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t swh5_p_default(void)     { return H5P_DEFAULT; }
static inline hid_t swh5_e_default(void)     { return H5E_DEFAULT; }
/// Standard (file) datatypes. Writers store these explicit little-endian layouts; readers accept a
/// numeric dataset only if its type equals one of them (H5Tequal), so a hostile file cannot route
/// a malformed custom float or integer layout into HDF5's generic conversion code.
static inline hid_t swh5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t swh5_ieee_f32be(void) { return H5T_IEEE_F32BE; }
static inline hid_t swh5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t swh5_ieee_f64be(void) { return H5T_IEEE_F64BE; }
static inline hid_t swh5_std_i8le(void)   { return H5T_STD_I8LE; }
static inline hid_t swh5_std_i8be(void)   { return H5T_STD_I8BE; }
static inline hid_t swh5_std_i16le(void)  { return H5T_STD_I16LE; }
static inline hid_t swh5_std_i16be(void)  { return H5T_STD_I16BE; }
static inline hid_t swh5_std_i32le(void)  { return H5T_STD_I32LE; }
static inline hid_t swh5_std_i32be(void)  { return H5T_STD_I32BE; }
static inline hid_t swh5_std_i64le(void)  { return H5T_STD_I64LE; }
static inline hid_t swh5_std_i64be(void)  { return H5T_STD_I64BE; }
static inline hid_t swh5_std_u8le(void)   { return H5T_STD_U8LE; }
static inline hid_t swh5_std_u8be(void)   { return H5T_STD_U8BE; }
static inline hid_t swh5_std_u16le(void)  { return H5T_STD_U16LE; }
static inline hid_t swh5_std_u16be(void)  { return H5T_STD_U16BE; }
static inline hid_t swh5_std_u32le(void)  { return H5T_STD_U32LE; }
static inline hid_t swh5_std_u32be(void)  { return H5T_STD_U32BE; }
/// H5T_VARIABLE is `((size_t)(-1))`, a cast macro Swift does not import.
static inline size_t swh5_variable(void)  { return H5T_VARIABLE; }
#endif
