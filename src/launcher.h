/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher worker (launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_LAUNCHER_H
#define PG_ELT_LAUNCHER_H

#include "postgres.h"

extern void elt_launcher_register(void);
extern PGDLLEXPORT void elt_launcher_main(Datum main_arg);

#endif							/* PG_ELT_LAUNCHER_H */
