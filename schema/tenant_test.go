package schema_test

import (
	"testing"

	"github.com/gosling-ota/gosling/schema"
)

func TestCheckTenant(t *testing.T) {
	if got := schema.ErrorCode(schema.CheckTenant("")); got != schema.EINVALID {
		t.Errorf(`CheckTenant("") code = %q, want %q`, got, schema.EINVALID)
	}
	if err := schema.CheckTenant("DEFAULT"); err != nil {
		t.Errorf("CheckTenant(DEFAULT) = %v", err)
	}
}
