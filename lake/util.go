package lake

import (
	"errors"

	"github.com/swelake/swelake/lake/objstore"
)

func isNotExist(err error) bool { return errors.Is(err, objstore.ErrNotExist) }
