// Package apperr is the error type that crosses from the capability packages to
// the web and API layers: an HTTP status, a stable code for API callers, a plain
// Chinese message safe to show, and the internal cause that is never shown.
package apperr

import (
	"errors"
	"net/http"
)

// Error is a failure meant for the person or program that asked.
type Error struct {
	Status  int
	Code    string
	Message string // Simplified Chinese, safe to show
	Field   string // the input field at fault, if any
	Err     error  // internal cause, logged, never shown
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// As finds an *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Invalid is bad input in one field.
func Invalid(field, code, msg string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Message: msg, Field: field}
}

// NotFound is a missing object, or one outside the caller's region (the two are
// deliberately indistinguishable).
func NotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: msg}
}

// Forbidden is an action the caller's role or region does not allow.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

// Conflict is a stale version or a duplicate.
func Conflict(code, msg string) *Error {
	return &Error{Status: http.StatusConflict, Code: code, Message: msg}
}

// ErrStale is the standard optimistic-locking refusal.
func Stale() *Error {
	return Conflict("version_conflict", "该记录已被其他人修改，您看到的是旧版本。请刷新页面查看最新内容后重新修改。")
}
