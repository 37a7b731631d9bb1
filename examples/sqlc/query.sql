-- name: CreateAccount :exec
INSERT INTO retrysql_sqlc_accounts (id, balance) VALUES ($1, $2);

-- name: GetBalance :one
SELECT balance FROM retrysql_sqlc_accounts WHERE id = $1;

-- name: AddBalance :execrows
UPDATE retrysql_sqlc_accounts SET balance = balance + sqlc.arg(delta) WHERE id = sqlc.arg(id);

-- name: InsertLedger :exec
INSERT INTO retrysql_sqlc_ledger (src, dst, amount) VALUES ($1, $2, $3);

-- name: TotalBalance :one
SELECT COALESCE(SUM(balance), 0)::bigint AS total FROM retrysql_sqlc_accounts;

-- name: CountLedger :one
SELECT count(*) FROM retrysql_sqlc_ledger;
