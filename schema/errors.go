package schema

import (
	"errors"
	"fmt"
)

// Error codes. Each API maps them to a status once (ddi/, control/).
const (
	EINVALID      = "invalid"      // the request or its body is malformed or violates a rule
	ENOTFOUND     = "not_found"    // the entity does not exist (or is not visible to the caller)
	ECONFLICT     = "conflict"     // the entity exists, is in use, or clashes with another
	EGONE         = "gone"         // the entity existed but is closed (e.g. feedback on a closed action)
	ENOTALLOWED   = "not_allowed"  // the operation is not allowed in the entity's current state
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials
	ETOOLARGE     = "too_large"    // a body or file is over its limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down or overloaded; retry later
	EINTERNAL     = "internal"     // a bug or an unexpected failure; logged, never detailed to clients
)

// Error is an application error with a code and a message a person can act on.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, and a
// generic text for internal errors so that details never leak to clients.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
