// Package shape is the one table of database/sql/driver's interfaces and
// what retrysql's wrappers do with each.
//
// database/sql changes what it does by type-asserting a driver's values to
// optional interfaces. A wrapper must therefore present, for each of them,
// either exactly what the driver's value presents (a varied interface: the
// wrapper has it if and only if the driver's value has it) or always the
// interface with a fallback that does what database/sql does without it (a
// claimed interface). Only the interfaces whose mere presence changes
// database/sql's behaviour are varied; every other one is claimed.
//
// The generator (internal/gen/shapes) makes one wrapper type per
// combination of varied interfaces from this table, and a test compares
// the table with database/sql/driver's source, so that an interface a new
// Go adds fails the test until the table says what to do with it.
package shape

// Kind is the driver value an interface belongs to.
type Kind uint8

const (
	// Conn: a connection (driver.Conn and its optional interfaces).
	Conn Kind = iota
	// Stmt: a prepared statement.
	Stmt
	// Rows: the rows of a query, wrapped only where retrysql reads the
	// first row itself.
	Rows
	// Other: an interface the wrappers do not present as optional (the
	// driver, the connector, results, transactions, values).
	Other
)

// Interface is one entry of the table.
type Interface struct {
	// Name is the interface's name in database/sql/driver.
	Name string
	// Methods are its methods' names.
	Methods []string
	// Kind is the driver value it belongs to.
	Kind Kind
	// Varied: the wrapper presents it exactly when the driver's value does
	// (or its Legacy interface). Otherwise the wrapper always presents it
	// (unless Kind is Other) and Fallback says what it does without the
	// driver's.
	Varied bool
	// Legacy is the older interface that counts as this one: a driver
	// with only driver.Execer gets an ExecerContext that calls Exec.
	Legacy string
	// Fallback describes the claimed interface without the driver's, or
	// for Other how the wrappers treat the interface.
	Fallback string
	// Why says why a varied interface must be varied.
	Why string
	// Superseded: database/sql/driver marks the interface deprecated; the
	// wrappers still present it exactly, for the drivers that have it.
	Superseded bool

	// For the generator, on varied interfaces: the letter naming the
	// interface in a shape's type name, and the method's signature and the
	// unexported method of the wrapper's base type that implements it.
	Letter  string
	Params  string
	Args    string
	Results string
	Impl    string
}

// Interfaces is the table, in the order of the bits of the shape masks
// for the varied interfaces of each Kind.
var Interfaces = []Interface{
	// Connections. Varied: four interfaces, sixteen shapes.
	{Name: "ExecerContext", Methods: []string{"ExecContext"}, Kind: Conn, Varied: true, Legacy: "Execer",
		Why:    "without it database/sql prepares every statement with arguments; with it, it converts the arguments with the connection's checker and calls it, falling back to prepare on driver.ErrSkip",
		Letter: "E", Params: "ctx context.Context, query string, args []driver.NamedValue", Args: "ctx, query, args", Results: "(driver.Result, error)", Impl: "execContext"},
	{Name: "QueryerContext", Methods: []string{"QueryContext"}, Kind: Conn, Varied: true, Legacy: "Queryer",
		Why:    "as ExecerContext, for queries",
		Letter: "Q", Params: "ctx context.Context, query string, args []driver.NamedValue", Args: "ctx, query, args", Results: "(driver.Rows, error)", Impl: "queryContext"},
	{Name: "SessionResetter", Methods: []string{"ResetSession"}, Kind: Conn, Varied: true,
		Why:    "with Validator, decides whether a transaction ended by its context keeps its connection (database/sql's keepConnOnRollback)",
		Letter: "R", Params: "ctx context.Context", Args: "ctx", Results: "error", Impl: "resetSession"},
	{Name: "Validator", Methods: []string{"IsValid"}, Kind: Conn, Varied: true,
		Why:    "with SessionResetter, as above",
		Letter: "V", Params: "", Args: "", Results: "bool", Impl: "isValid"},
	// Connections, claimed.
	{Name: "Conn", Methods: []string{"Prepare", "Close", "Begin"}, Kind: Conn,
		Fallback: "the base of every wrapped connection"},
	{Name: "Execer", Methods: []string{"Exec"}, Kind: Conn, Legacy: "ExecerContext", Superseded: true,
		Fallback: "never presented: the wrapper's ExecerContext stands for it (database/sql uses Execer only without ExecerContext)"},
	{Name: "Queryer", Methods: []string{"Query"}, Kind: Conn, Legacy: "QueryerContext", Superseded: true,
		Fallback: "never presented: the wrapper's QueryerContext stands for it"},
	{Name: "ConnPrepareContext", Methods: []string{"PrepareContext"}, Kind: Conn,
		Fallback: "Prepare, then the statement closed and the context's error returned if it ended meanwhile, as database/sql does"},
	{Name: "ConnBeginTx", Methods: []string{"BeginTx"}, Kind: Conn,
		Fallback: "Begin, refusing a non-default isolation level or read-only with database/sql's errors, rolled back if the context ended meanwhile"},
	{Name: "Pinger", Methods: []string{"Ping"}, Kind: Conn,
		Fallback: "nil, as database/sql treats a connection without Ping"},
	{Name: "NamedValueChecker", Methods: []string{"CheckNamedValue"}, Kind: Conn,
		Fallback: "driver.ErrSkip on a connection (database/sql then uses its default conversion); on a statement, the connection's checker, which database/sql would use"},

	// Statements. Varied: one interface, two shapes.
	{Name: "ColumnConverter", Methods: []string{"ColumnConverter"}, Kind: Stmt, Varied: true, Superseded: true,
		Why:    "database/sql converts a statement's arguments with it when present",
		Letter: "C", Params: "idx int", Args: "idx", Results: "driver.ValueConverter", Impl: "columnConverter"},
	{Name: "Stmt", Methods: []string{"Close", "NumInput", "Exec", "Query"}, Kind: Stmt,
		Fallback: "the base of every wrapped statement"},
	{Name: "StmtExecContext", Methods: []string{"ExecContext"}, Kind: Stmt,
		Fallback: "Exec with the arguments' values (named arguments refused with database/sql's error) unless the context has ended, as database/sql does"},
	{Name: "StmtQueryContext", Methods: []string{"QueryContext"}, Kind: Stmt,
		Fallback: "as StmtExecContext, with Query"},

	// Rows, all claimed: their absence and the fallbacks give database/sql
	// the same answers.
	{Name: "Rows", Methods: []string{"Columns", "Close", "Next"}, Kind: Rows,
		Fallback: "the base of the wrapped rows"},
	{Name: "RowsNextResultSet", Methods: []string{"HasNextResultSet", "NextResultSet"}, Kind: Rows,
		Fallback: "false and io.EOF: database/sql then ends the rows, as without it"},
	{Name: "RowsColumnTypeScanType", Methods: []string{"ColumnTypeScanType"}, Kind: Rows,
		Fallback: "the type of any, database/sql's default"},
	{Name: "RowsColumnTypeDatabaseTypeName", Methods: []string{"ColumnTypeDatabaseTypeName"}, Kind: Rows,
		Fallback: `"", database/sql's default`},
	{Name: "RowsColumnTypeLength", Methods: []string{"ColumnTypeLength"}, Kind: Rows,
		Fallback: "0, false: database/sql's default"},
	{Name: "RowsColumnTypeNullable", Methods: []string{"ColumnTypeNullable"}, Kind: Rows,
		Fallback: "false, false: database/sql's default"},
	{Name: "RowsColumnTypePrecisionScale", Methods: []string{"ColumnTypePrecisionScale"}, Kind: Rows,
		Fallback: "0, 0, false: database/sql's default"},

	// The rest.
	{Name: "Driver", Methods: []string{"Open"}, Kind: Other,
		Fallback: "the wrapper's driver always has it"},
	{Name: "DriverContext", Methods: []string{"OpenConnector"}, Kind: Other,
		Fallback: "the wrapper's driver always has it, so that every sql.Open gets a handle (a Retrier) of its own; for a driver without it, its Open is called, as database/sql would"},
	{Name: "Connector", Methods: []string{"Connect", "Driver"}, Kind: Other,
		Fallback: "the wrapper's connector; io.Closer is forwarded when the driver's connector has it"},
	{Name: "Tx", Methods: []string{"Commit", "Rollback"}, Kind: Other,
		Fallback: "wrapped, forwarding both: database/sql asserts no optional interface on it"},
	{Name: "Result", Methods: []string{"LastInsertId", "RowsAffected"}, Kind: Other,
		Fallback: "the driver's own, not wrapped"},
	{Name: "Valuer", Methods: []string{"Value"}, Kind: Other,
		Fallback: "an argument's, not the wrappers' concern"},
	{Name: "ValueConverter", Methods: []string{"ConvertValue"}, Kind: Other,
		Fallback: "the driver's own, returned by ColumnConverter"},
}

// Varied returns the varied interfaces of kind, in the order of their bits.
func Varied(kind Kind) []Interface {
	var out []Interface
	for _, i := range Interfaces {
		if i.Kind == kind && i.Varied {
			out = append(out, i)
		}
	}
	return out
}
