-- Read-only database role for the verifier's managed identity (Microsoft Entra principal).
--
-- Run as a Microsoft Entra ADMINISTRATOR of the flexible server, with psql variables:
--   identity_name  the user-assigned identity's name (azd output VERIFIER_IDENTITY_NAME; it is PGUSER)
--   identity_oid   its object (principal) id        (azd output VERIFIER_IDENTITY_PRINCIPAL_ID)
--   app_db         the application database        (azd output PGDATABASE)
-- e.g. (docs/deployment.md, "Deploy"):
--   psql "host=$PGHOST dbname=postgres user=<admin@tenant> sslmode=require" \
--        -v identity_name=... -v identity_oid=... -v app_db=medicapp -f infra/sql/grant_readonly.sql
-- Idempotent: run it again after new tables appear (or rely on the default privileges below).
\set ON_ERROR_STOP on

-- 1. The Entra principal (in `postgres`, where the pgaadauth extension lives). By object id, so
--    the role is bound to this identity, not to a display name someone could reuse:
--    pgaadauth_create_principal_with_oid(role name, object id, 'service', isAdmin, isMfa).
\connect postgres
SELECT set_config('verifier.identity_name', :'identity_name', false),
       set_config('verifier.identity_oid', :'identity_oid', false);
DO $$
DECLARE
  rname text := current_setting('verifier.identity_name');
  oid_ text := current_setting('verifier.identity_oid');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = rname) THEN
    PERFORM pgaadauth_create_principal_with_oid(rname, oid_, 'service', false, false);
  ELSE
    -- an existing role: (re)bind it to the identity's object id (Azure docs: SECURITY LABEL)
    EXECUTE format('SECURITY LABEL FOR "pgaadauth" ON ROLE %I IS %L', rname,
                   'aadauth,oid=' || oid_ || ',type=service');
  END IF;
END $$;

-- Every session of this login is read-only, whatever the client asks for.
ALTER ROLE :"identity_name" SET default_transaction_read_only = on;

-- 2. Read access in the application database, nothing else.
\connect :app_db
SELECT set_config('verifier.identity_name', :'identity_name', false);
DO $$
DECLARE
  rname text := current_setting('verifier.identity_name');
  schema_name text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'medicapp_readonly') THEN
    CREATE ROLE medicapp_readonly NOLOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO medicapp_readonly', current_database());
  FOR schema_name IN
    SELECT nspname FROM pg_catalog.pg_namespace
    WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
      AND nspname NOT IN ('azure', 'cron', 'pgaadauth')
  LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO medicapp_readonly', schema_name);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO medicapp_readonly', schema_name);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO medicapp_readonly', schema_name);
    -- tables the application creates later (as the role running its migrations, i.e. this admin
    -- or the owner: run the script as that role, or repeat it after migrations)
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO medicapp_readonly',
                   schema_name);
  END LOOP;
  EXECUTE format('GRANT medicapp_readonly TO %I', rname);
END $$;
