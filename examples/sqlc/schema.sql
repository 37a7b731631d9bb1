-- The example's tables, created by the example (and dropped at its end).
CREATE TABLE retrysql_sqlc_accounts (
    id      integer PRIMARY KEY,
    balance bigint  NOT NULL
);

CREATE TABLE retrysql_sqlc_ledger (
    id     bigserial PRIMARY KEY,
    src    integer   NOT NULL,
    dst    integer   NOT NULL,
    amount bigint    NOT NULL
);
