module example.com/gointerval

go 1.22
