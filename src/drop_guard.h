/*-------------------------------------------------------------------------
 *
 * drop_guard.h
 *	  DROP EXTENSION and DROP DATABASE made clean, and the pool's idle
 *	  workers retired when new sessions would differ (drop_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_DROP_GUARD_H
#define PG_ELT_DROP_GUARD_H

extern void elt_drop_guard_preload(void);

#endif							/* PG_ELT_DROP_GUARD_H */
