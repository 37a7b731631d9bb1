package classify

// find returns the first error in err's tree, in the order errors.As visits
// it, whose dynamic type is T (a concrete or an interface type). Unlike
// errors.As it takes no pointer to a target, so it never allocates: the
// classifiers run after every failed attempt and must stay cheap.
func find[T any](err error) (T, bool) {
	for err != nil {
		if t, ok := err.(T); ok {
			return t, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t, ok := find[T](e); ok {
					return t, true
				}
			}
			var zero T
			return zero, false
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}
