/*
 * export_c.h: the text of the kernels that every generated C model carries (export_c_kern.c),
 * for the C writer (export_c.c; its entry point is in export.h).
 */
#ifndef QD_EXPORT_C_H
#define QD_EXPORT_C_H

extern const char export_c_kernels[];

#endif
