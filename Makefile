# pg_elt: build with PGXS.  `make && make install`, then `make installcheck`
# runs the pg_regress suite against a temporary instance (see test/check.sh,
# which also starts the fixture HTTP server and the TAP tests).

EXTENSION = pg_elt
EXTVERSION = 0.4

MODULE_big = pg_elt
OBJS = \
	src/pg_elt.o \
	src/guc.o \
	src/jsonb_util.o \
	src/states.o \
	src/http_fetch.o \
	src/http_headers.o \
	src/url_mask.o \
	src/outbound.o \
	src/file_source.o \
	src/gzip_stream.o \
	src/csv_infer.o \
	src/load_options.o \
	src/csv_load.o \
	src/copy_feed.o \
	src/load_parallel.o \
	src/csv_scan.o \
	src/load_insert.o \
	src/citus.o \
	src/templates.o \
	src/schedule_expr.o \
	src/catalog.o \
	src/credentials.o \
	src/runtime.o \
	src/launcher.o \
	src/scheduler.o \
	src/drop_guard.o \
	src/run_channel.o \
	src/run_worker.o \
	src/run_worker_main.o \
	src/run_coordinator.o \
	src/task_attempt.o \
	src/task_cache.o \
	src/tag_limits.o \
	src/run_log.o \
	src/flow_run.o \
	src/run_queue.o \
	src/body_template.o \
	src/notifier.o \
	src/worker_pool.o \
	src/object_store.o \
	src/csv_export.o

# Install and upgrade scripts live in sql/ beside the regression inputs and
# are told apart by the "pg_elt--" prefix.
DATA = $(wildcard sql/pg_elt--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src $(shell curl-config --cflags)
SHLIB_LINK = $(shell curl-config --libs) -lz

# ISA-L's igzip inflates about three times as fast as zlib: used when its
# headers are installed (Debian: libisal-dev), unless `make WITH_ISAL=0`.
WITH_ISAL ?= $(if $(wildcard /usr/include/isa-l/igzip_lib.h),1,0)
ifeq ($(WITH_ISAL),1)
PG_CPPFLAGS += -DUSE_ISAL
SHLIB_LINK += -lisal
endif
PG_CFLAGS = -Wall -Wmissing-prototypes -Werror=implicit-function-declaration

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/pg_elt--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=$(CURDIR)/tmp_check \
	--port=$(or $(PGELT_TEST_PGPORT),57432)

# TAP tests live in test/t (PostgreSQL::Test::Cluster).
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check results regression.diffs regression.out log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A module is rebuilt when any header changes (they are small, and few).
$(OBJS): $(wildcard src/*.h)
