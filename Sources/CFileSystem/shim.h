// statfs(2), which the Glibc module does not export: the file system type
// of a folder (a mounted CD or DVD is read one file at a time).
#if defined(__linux__)
#include <sys/vfs.h>
#else
#include <sys/param.h>
#include <sys/mount.h>
#endif
