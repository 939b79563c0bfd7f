// A client in another language, built from protos/ alone: creates a customer and an invoice, reads the
// invoice back and streams a filtered list, then prints what it got as one JSON line.
// Usage: node clients/node/smoke.mjs <host:port> <api key>
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
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
    notFound = grpc.status[error.code];
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
    }),
  );
} catch (error) {
  console.error(`failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  invoices.close();
  customers.close();
}
