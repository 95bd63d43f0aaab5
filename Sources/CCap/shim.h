#ifndef DMEMFUZZ_CCAP_SHIM_H
#define DMEMFUZZ_CCAP_SHIM_H
#include <sys/capability.h>
#endif
