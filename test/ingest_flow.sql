-- The tutorial's ingest flow, as the README shows it: extract the taxi file
-- at :url into yellow_taxi_trips, then delete the trips without passengers.
-- Used by test/demo.sh and by the regression suite (sql/flows.sql).
INSERT INTO elt.flows (name, params) VALUES
  ('ingest', jsonb_build_object('url', :'url', 'table_name', 'yellow_taxi_trips'));
INSERT INTO elt.tasks (flow, name, kind, config, retries, retry_delay, tags) VALUES
  ('ingest', 'extract_data', 'extract',
   '{"url": ":url", "table": ":table_name", "mode": "replace"}', 3, '2 seconds', '{extract}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('ingest', 'transform_data', 'sql',
   'DELETE FROM :"table_name" WHERE passenger_count = 0', '{extract_data}');
