#ifndef MEMO_CTURBOJPEG_SHIM_H
#define MEMO_CTURBOJPEG_SHIM_H
/// libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0-dev): errors are return codes and
/// tjGetErrorStr2, so no setjmp/longjmp crosses Swift frames.
#include <turbojpeg.h>
#endif
