module github.com/retrysql/retrysql

go 1.25.0

require github.com/sony/gobreaker/v2 v2.4.0
