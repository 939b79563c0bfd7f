// A Go client of invoicing.v1, built from the code `make clients` generates (tests build it in GOPATH mode
// against Debian's grpc-go). It prints one JSON line of what it saw, for the test to check.
//
//	smoke <host:port> <api key>                 customers, invoices, a list read to the end, error details
//	smoke watch <host:port> <api key> <after>   hold WatchInvoiceEvents with a 10 s client keepalive and
//	                                            print the first event
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	invoicingv1 "github.com/invoicing/invoicing-service/clients/go/invoicing/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// How many invoices the smoke run creates: more than one List batch.
const invoiceCount = 60

func main() {
	var err error
	if len(os.Args) == 5 && os.Args[1] == "watch" {
		err = watch(os.Args[2], os.Args[3], os.Args[4])
	} else if len(os.Args) == 3 {
		err = smoke(os.Args[1], os.Args[2])
	} else {
		err = fmt.Errorf("usage: smoke <host:port> <api key> | smoke watch <host:port> <api key> <after_sequence>")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed:", err)
		os.Exit(1)
	}
}

func dial(target string) (*grpc.ClientConn, error) {
	// A usual Go setting: ping every 10 s, even with no call in flight.
	return grpc.Dial(target, grpc.WithInsecure(), grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true,
	}))
}

func authorized(key string, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key), cancel
}

func day(year, month, dayOfMonth int32) *date.Date {
	return &date.Date{Year: year, Month: month, Day: dayOfMonth}
}

type violation struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

type smokeResult struct {
	Customer     string      `json:"customer"`
	Invoice      string      `json:"invoice"`
	Status       string      `json:"status"`
	Total        string      `json:"total"`
	Lines        [][2]string `json:"lines"`
	Listed       int         `json:"listed"`
	ListMessages int         `json:"list_messages"`
	ListedFirst  bool        `json:"listed_first_created"`
	ErrorCode    string      `json:"error_code"`
	ErrorReason  string      `json:"error_reason"`
	ErrorDomain  string      `json:"error_domain"`
	Violations   []violation `json:"violations"`
}

func smoke(target, key string) error {
	conn, err := dial(target)
	if err != nil {
		return err
	}
	defer conn.Close()
	customers := invoicingv1.NewCustomerServiceClient(conn)
	invoices := invoicingv1.NewInvoiceServiceClient(conn)
	ctx, cancel := authorized(key, 60*time.Second)
	defer cancel()

	customer, err := customers.CreateCustomer(ctx, &invoicingv1.CreateCustomerRequest{
		Name: "Gopher Corp", Email: "ap@gopher.example", Currency: "USD", Timezone: "America/New_York",
	})
	if err != nil {
		return fmt.Errorf("CreateCustomer: %w", err)
	}
	request := func(n int) *invoicingv1.CreateInvoiceRequest {
		return &invoicingv1.CreateInvoiceRequest{
			CustomerId:  customer.Id,
			Currency:    "USD",
			InvoiceDate: day(2026, 3, 1),
			LineItems: []*invoicingv1.NewInvoiceLineItem{
				{Name: "Seats", Quantity: "3", UnitAmount: "19.99", StartDate: day(2026, 2, 1), EndDate: day(2026, 2, 28)},
				{Name: "API calls", Quantity: "1250", UnitAmount: "0.004", StartDate: day(2026, 2, 1), EndDate: day(2026, 2, 28)},
			},
			RequestId: fmt.Sprintf("go-%s-%d", customer.Id, n),
		}
	}
	created, err := invoices.CreateInvoice(ctx, request(0))
	if err != nil {
		return fmt.Errorf("CreateInvoice: %w", err)
	}
	for n := 1; n < invoiceCount; n++ {
		if _, err := invoices.CreateInvoice(ctx, request(n)); err != nil {
			return fmt.Errorf("CreateInvoice %d: %w", n, err)
		}
	}
	fetched, err := invoices.GetInvoice(ctx, &invoicingv1.GetInvoiceRequest{InvoiceId: created.Id})
	if err != nil {
		return fmt.Errorf("GetInvoice: %w", err)
	}
	result := smokeResult{
		Customer: customer.Id, Invoice: fetched.Id, Status: fetched.Status.String(), Total: fetched.Total,
	}
	for _, line := range fetched.LineItems {
		result.Lines = append(result.Lines, [2]string{line.Name, line.Amount})
	}

	stream, err := invoices.ListInvoices(ctx, &invoicingv1.ListInvoicesRequest{
		CustomerId: customer.Id, Status: []invoicingv1.InvoiceStatus{invoicingv1.InvoiceStatus_INVOICE_STATUS_DRAFT},
	})
	if err != nil {
		return fmt.Errorf("ListInvoices: %w", err)
	}
	for {
		batch, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("ListInvoices: %w", err)
		}
		result.ListMessages++
		for _, invoice := range batch.Invoices {
			result.Listed++
			result.ListedFirst = result.ListedFirst || invoice.Id == created.Id
		}
	}

	bad := request(invoiceCount)
	bad.LineItems[0].Quantity = "three"
	bad.LineItems[1].Name = ""
	_, err = invoices.CreateInvoice(ctx, bad)
	st, _ := status.FromError(err)
	result.ErrorCode = st.Code().String()
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			result.ErrorReason, result.ErrorDomain = d.Reason, d.Domain
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				result.Violations = append(result.Violations, violation{Field: v.Field, Reason: v.Reason})
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

type watchResult struct {
	Sequence  int64  `json:"sequence"`
	Type      string `json:"type"`
	InvoiceID string `json:"invoice_id"`
}

func watch(target, key, after string) error {
	afterSequence, err := strconv.ParseInt(after, 10, 64)
	if err != nil {
		return err
	}
	conn, err := dial(target)
	if err != nil {
		return err
	}
	defer conn.Close()
	// As long as the Python watch client's: the tests open the watch when the suite starts and check it
	// wherever the keepalive test runs, minutes later on a loaded machine.
	ctx, cancel := authorized(key, 600*time.Second)
	defer cancel()
	stream, err := invoicingv1.NewInvoiceServiceClient(conn).WatchInvoiceEvents(
		ctx, &invoicingv1.WatchInvoiceEventsRequest{AfterSequence: afterSequence},
	)
	if err != nil {
		return fmt.Errorf("WatchInvoiceEvents: %w", err)
	}
	fmt.Fprintln(os.Stderr, "watching")
	event, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("WatchInvoiceEvents: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(watchResult{
		Sequence: event.Sequence, Type: event.Type.String(), InvoiceID: event.InvoiceId,
	})
}
