module github.com/retrysql/retrysql

go 1.25.0
