module github.com/invoicing/invoicing-service/clients/go

go 1.19
