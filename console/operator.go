package console

import "context"

type operatorKey struct{}

func withOperator(ctx context.Context, op Operator) context.Context {
	return context.WithValue(ctx, operatorKey{}, op)
}

// OperatorFromContext returns the operator of a console request, for an
// action's code (or a handler wrapped around the console) to log or check.
func OperatorFromContext(ctx context.Context) (Operator, bool) {
	op, ok := ctx.Value(operatorKey{}).(Operator)
	return op, ok
}
