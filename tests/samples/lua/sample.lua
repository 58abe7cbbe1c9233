local json = require("json")

local Account = {}
Account.__index = Account

local MIN_BALANCE = 0

function Account.new(owner, balance)
  local self = setmetatable({}, Account)
  self.owner = owner
  self.balance = balance or 0
  return self
end

function Account:deposit(amount)
  self.balance = self.balance + amount
  return self.balance
end

function Account:withdraw(amount)
  if self.balance - amount < MIN_BALANCE then
    error("insufficient funds")
  end
  self.balance = self.balance - amount
  return self.balance
end

function Account:serialize()
  return json.encode({ owner = self.owner, balance = self.balance })
end

local function transfer(from, to, amount)
  from:withdraw(amount)
  to:deposit(amount)
end

local format_balance = function(account)
  return string.format("%s: %.2f", account.owner, account.balance)
end

local M = {
  describe = function(account)
    return format_balance(account)
  end,
}

local a = Account.new("ann", 100)
local b = Account.new("bob")
transfer(a, b, 30)
print(M.describe(a), b:serialize())

local function sig_demo(a, -- sigcomment
                        b)
  return a + b
end

return M
