module github.com/retrysql/retrysql/examples

go 1.25.0

require github.com/retrysql/retrysql v0.0.0

replace github.com/retrysql/retrysql => ../
