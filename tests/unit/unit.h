#ifndef ORDINAVO_UNIT_H
#define ORDINAVO_UNIT_H

/* Common includes for the cmocka unit tests. Each tests/unit/test_*.c file is
 * one program linked against the worker's library objects. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#endif
