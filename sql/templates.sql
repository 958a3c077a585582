-- Parameter substitution by psql's rules: :name, :'name', :"name".
CREATE FUNCTION sub(template text) RETURNS text LANGUAGE sql AS $$
  SELECT elt.substitute(template, '{"t": "yellow_taxi_trips", "n": 42, "s": "it''s", "b": "back\\slash",
    "on": true, "nul": null, "evil": "x\"; DROP TABLE y; --", "Mixed": "Case"}')
$$;
SELECT sub('SELECT :n, :''s'', :"t", :on');
SELECT sub('DELETE FROM :"evil" WHERE a = :''evil''');
SELECT sub('SELECT :''b''');
-- never inside quoted strings, quoted identifiers, comments or dollar quotes
SELECT sub('SELECT '':n'', ":n", E''\'':n'' -- :n
/* :n /* nested :n */ still :n */ $$ :n $$, $tag$ :n $tag$, :n');
-- :: is a cast; unknown names and $1 stay as written; names are case-sensitive
SELECT sub('SELECT :n::text, now()::date, :missing, :''missing'', $1, :Mixed, :mixed');
-- null
SELECT sub('SELECT :nul, :''nul''');
SELECT sub('SELECT * FROM :"nul"');
SELECT elt.substitute('SELECT :n', '[1]');
