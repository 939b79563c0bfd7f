// A client in another language, built from protos/ and the vendored google/rpc protos alone: creates a
// customer and an invoice, reads the invoice back, streams a filtered list and decodes the rich error
// details (google.rpc.Status in `grpc-status-details-bin`: ErrorInfo, BadRequest), then prints what it got
// as one JSON line.
// Usage: node clients/node/smoke.mjs <host:port> <api key>
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const [target, key] = process.argv.slice(2);

const definition = protoLoader.loadSync(
  ["invoicing/v1/invoice_service.proto", "invoicing/v1/customer_service.proto"],
  {
    includeDirs: [path.join(root, "protos"), path.join(root, "third_party", "googleapis")],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  },
);
const invoicing = grpc.loadPackageDefinition(definition).invoicing.v1;

// google.rpc.Status and its details, from third_party/googleapis.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  target.startsWith("google/protobuf/") ? target : path.join(root, "third_party", "googleapis", target);
rpcRoot.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
const Status = rpcRoot.lookupType("google.rpc.Status");

/** The details of a failed call, by type: {ErrorInfo: {...}, BadRequest: {...}}. */
const detailsOf = (error) => {
  const [raw] = error.metadata.get("grpc-status-details-bin");
  const details = {};
  for (const any of Status.decode(raw).details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    const type = rpcRoot.lookupType(typeName);
    details[typeName.split(".").pop()] = type.toObject(type.decode(any.value));
  }
  return details;
};
const credentials = grpc.credentials.createInsecure();
const invoices = new invoicing.InvoiceService(target, credentials);
const customers = new invoicing.CustomerService(target, credentials);
const metadata = new grpc.Metadata();
metadata.set("authorization", `Bearer ${key}`);

const call = (client, method, request) =>
  new Promise((resolve, reject) =>
    client[method](request, metadata, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );

const list = (request) =>
  new Promise((resolve, reject) => {
    const found = [];
    const stream = invoices.ListInvoices(request, metadata);
    stream.on("data", (message) => found.push(...message.invoices.map((invoice) => invoice.id)));
    stream.on("error", reject);
    stream.on("end", () => resolve(found));
  });

const day = (year, month, dayOfMonth) => ({ year, month, day: dayOfMonth });

try {
  const customer = await call(customers, "CreateCustomer", {
    name: "Node Corp",
    email: "ap@node.example",
    currency: "EUR",
    timezone: "Europe/Paris",
  });
  const created = await call(invoices, "CreateInvoice", {
    customer_id: customer.id,
    currency: "EUR",
    invoice_date: day(2024, 5, 1),
    line_items: [
      { name: "Seats", quantity: "3", unit_amount: "19.99", start_date: day(2024, 4, 1), end_date: day(2024, 4, 30) },
    ],
    request_id: `node-${customer.id}`,
  });
  const fetched = await call(invoices, "GetInvoice", { invoice_id: created.id });
  const listed = await list({ customer_id: customer.id, status: ["INVOICE_STATUS_DRAFT"] });
  let notFound = null;
  try {
    await call(invoices, "GetInvoice", { invoice_id: "inv_missing" });
  } catch (error) {
    notFound = { code: grpc.status[error.code], reason: detailsOf(error).ErrorInfo.reason };
  }
  let invalid = null;
  try {
    await call(invoices, "CreateInvoice", {
      customer_id: customer.id,
      currency: "EUR",
      invoice_date: day(2024, 5, 1),
      line_items: [
        { name: "", quantity: "1", unit_amount: "1", start_date: day(2024, 4, 1), end_date: day(2024, 4, 30) },
        { name: "Seats", quantity: "1", unit_amount: "x", start_date: day(2024, 4, 1), end_date: day(2024, 4, 30) },
      ],
    });
  } catch (error) {
    const details = detailsOf(error);
    invalid = {
      code: grpc.status[error.code],
      reason: details.ErrorInfo.reason,
      domain: details.ErrorInfo.domain,
      violations: details.BadRequest.field_violations.map((v) => [v.field, v.reason]),
    };
  }
  console.log(
    JSON.stringify({
      customer: customer.id,
      invoice: fetched.id,
      status: fetched.status,
      total: fetched.total,
      lines: fetched.line_items.map((line) => [line.name, line.amount]),
      listed,
      notFound,
      invalid,
    }),
  );
} catch (error) {
  console.error(`failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  invoices.close();
  customers.close();
}
