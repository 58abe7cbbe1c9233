require "json"

module Billing
  TAX_RATE = 0.2

  class Invoice
    attr_reader :lines

    def initialize(customer)
      @customer = customer
      @lines = []
    end

    def add_line(description, amount)
      @lines << LineItem.new(description, amount)
      self
    end

    def total
      subtotal * (1 + TAX_RATE)
    end

    def to_json(*args)
      { customer: @customer, total: total.round(2) }.to_json(*args)
    end

    def self.for(customer)
      new(customer)
    end

    private

    def subtotal
      @lines.sum(&:amount)
    end
  end

  LineItem = Struct.new(:description, :amount)

  def self.print_invoice(invoice)
    puts JSON.pretty_generate(JSON.parse(invoice.to_json))
  end
end

invoice = Billing::Invoice.for("ACME").add_line("Widgets", 120)
Billing.print_invoice(invoice)

def sig_demo(a, # sigcomment
             b)
  a + b
end
