package retrysql

import (
	"database/sql/driver"
	"io"
	"reflect"
)

// prefetched are the rows of a query whose first row was read inside the
// retry loop (conn.prefetchFirst): the first Next hands it over, the next
// ones read on. They present every optional interface of rows with the
// fallbacks of internal/shape: database/sql gets from them the same
// answers as from the driver's rows.
type prefetched struct {
	inner   driver.Rows
	cols    []string       // inner's columns, asked once
	row     []driver.Value // the first row, until handed over
	err     error          // io.EOF if there was no first row
	pending bool           // the first row is still to hand over
	inUse   bool           // taken (the connection's own are reused when free)
}

var (
	_ driver.RowsNextResultSet              = (*prefetched)(nil)
	_ driver.RowsColumnTypeScanType         = (*prefetched)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*prefetched)(nil)
	_ driver.RowsColumnTypeLength           = (*prefetched)(nil)
	_ driver.RowsColumnTypeNullable         = (*prefetched)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*prefetched)(nil)
)

// prefetchFirst reads the first row of rows. An error in reading it (not
// io.EOF: no rows) closes the rows and is the attempt's error, retried as
// the statement's rules allow. The connection's own prefetched value is
// used when free (no allocation); a second query open at once on the same
// connection gets one of its own.
func (c *conn) prefetchFirst(rows driver.Rows) (driver.Rows, error) {
	p := &c.rows
	if p.inUse {
		p = &prefetched{}
	}
	p.cols = rows.Columns()
	n := len(p.cols)
	if cap(p.row) < n {
		p.row = make([]driver.Value, n)
	}
	p.row = p.row[:n]
	err := rows.Next(p.row)
	if err != nil && err != io.EOF {
		clear(p.row)
		rows.Close()
		return nil, err
	}
	p.inner, p.err, p.pending, p.inUse = rows, err, true, true
	return p, nil
}

// Columns implements driver.Rows: the driver's answer, asked once (some
// drivers build it anew at every call).
func (p *prefetched) Columns() []string { return p.cols }

// Close implements driver.Rows.
func (p *prefetched) Close() error {
	if p.inner == nil {
		return nil // closed already
	}
	err := p.inner.Close()
	clear(p.row)
	p.inner, p.cols, p.pending, p.inUse = nil, nil, false, false
	return err
}

// Next implements driver.Rows.
func (p *prefetched) Next(dest []driver.Value) error {
	if p.pending {
		p.pending = false
		if p.err != nil {
			return p.err
		}
		copy(dest, p.row)
		return nil
	}
	return p.inner.Next(dest)
}

// HasNextResultSet implements driver.RowsNextResultSet.
func (p *prefetched) HasNextResultSet() bool {
	if r, ok := p.inner.(driver.RowsNextResultSet); ok {
		return r.HasNextResultSet()
	}
	return false
}

// NextResultSet implements driver.RowsNextResultSet.
func (p *prefetched) NextResultSet() error {
	p.pending = false
	if r, ok := p.inner.(driver.RowsNextResultSet); ok {
		err := r.NextResultSet()
		if err == nil {
			// database/sql asks for the new set's columns.
			p.cols = p.inner.Columns()
		}
		return err
	}
	return io.EOF
}

var anyType = reflect.TypeFor[any]()

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (p *prefetched) ColumnTypeScanType(i int) reflect.Type {
	if r, ok := p.inner.(driver.RowsColumnTypeScanType); ok {
		return r.ColumnTypeScanType(i)
	}
	return anyType
}

// ColumnTypeDatabaseTypeName implements
// driver.RowsColumnTypeDatabaseTypeName.
func (p *prefetched) ColumnTypeDatabaseTypeName(i int) string {
	if r, ok := p.inner.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return r.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeLength implements driver.RowsColumnTypeLength.
func (p *prefetched) ColumnTypeLength(i int) (int64, bool) {
	if r, ok := p.inner.(driver.RowsColumnTypeLength); ok {
		return r.ColumnTypeLength(i)
	}
	return 0, false
}

// ColumnTypeNullable implements driver.RowsColumnTypeNullable.
func (p *prefetched) ColumnTypeNullable(i int) (nullable, ok bool) {
	if r, ok := p.inner.(driver.RowsColumnTypeNullable); ok {
		return r.ColumnTypeNullable(i)
	}
	return false, false
}

// ColumnTypePrecisionScale implements driver.RowsColumnTypePrecisionScale.
func (p *prefetched) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if r, ok := p.inner.(driver.RowsColumnTypePrecisionScale); ok {
		return r.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
