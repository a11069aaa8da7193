-- A small MedicApp-like database for tests and the demo. Re-runnable on an empty database.
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('4f2b9c1d7e3a');

CREATE TABLE patients (
    id bigserial PRIMARY KEY,
    full_name text NOT NULL,
    birth_date date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patients (full_name, birth_date, created_at)
SELECT 'Patient ' || g, date '1950-01-01' + (g * 97) % 25000, now() - (g || ' hours')::interval
FROM generate_series(1, 120) AS g;

CREATE TABLE consultations (
    id bigserial PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES patients(id),
    happened_at timestamptz NOT NULL,
    notes text
);
INSERT INTO consultations (patient_id, happened_at, notes)
SELECT 1 + (g % 120), now() - (g || ' hours')::interval, 'Consultation ' || g
FROM generate_series(1, 300) AS g;

CREATE TABLE documents (
    id bigserial PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES patients(id),
    title text NOT NULL,
    signed boolean NOT NULL DEFAULT false,
    blob_path text,
    sha256 char(64),
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Every third document is signed. A signed document's file (container `documents`, name = blob_path)
-- holds the text 'MedicApp demo file for ' || title, and sha256 is its hash (devtools/demo.py uploads
-- them to Azurite). The newest signed document is 'Document 3' (patients/4/doc-3.pdf).
INSERT INTO documents (patient_id, title, signed, blob_path, sha256, created_at)
SELECT 1 + (g % 120), 'Document ' || g, g % 3 = 0, 'patients/' || (1 + g % 120) || '/doc-' || g || '.pdf',
       CASE WHEN g % 3 = 0 THEN encode(sha256(convert_to('MedicApp demo file for Document ' || g, 'UTF8')), 'hex') END,
       now() - (g || ' days')::interval
FROM generate_series(1, 60) AS g;

-- The verifier's own login: SELECT only (the session is read-only on top of that).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'verifier') THEN
        CREATE ROLE verifier LOGIN PASSWORD 'verifier-demo-pw';
    END IF;
END $$;
GRANT USAGE ON SCHEMA public TO verifier;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO verifier;
ANALYZE;
