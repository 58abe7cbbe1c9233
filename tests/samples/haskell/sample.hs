{-# LANGUAGE ScopedTypeVariables #-}
module Data.Inventory
  ( Item (..)
  , Inventory
  , addItem
  , totalValue
  ) where

import qualified Data.Map.Strict as Map
import Data.List (sortOn)

-- | Unique identifier for an item.
newtype ItemId = ItemId Int
  deriving (Eq, Ord, Show)

type Price = Double

data Category = Food | Tools | Toys
  deriving (Eq, Show)

data Item = Item
  { itemId :: ItemId
  , itemName :: String
  , itemPrice :: Price
  , itemCategory :: Category
  } deriving (Show)

newtype Inventory = Inventory (Map.Map ItemId Item)

class Priced a where
  price :: a -> Price

instance Priced Item where
  price = itemPrice

emptyInventory :: Inventory
emptyInventory = Inventory Map.empty

addItem :: Item -> Inventory -> Inventory
addItem item (Inventory m) = Inventory (Map.insert (itemId item) item m)

totalValue :: Inventory -> Price
totalValue (Inventory m) = sum (map price (Map.elems m))

cheapest :: Int -> Inventory -> [Item]
cheapest n (Inventory m)
  | n <= 0 = []
  | otherwise = take n (sortOn price (Map.elems m))

sampleInventory :: Inventory
sampleInventory = foldr addItem emptyInventory items
  where
    items = [Item (ItemId 1) "hammer" 9.5 Tools, Item (ItemId 2) "apple" 0.4 Food]

main :: IO ()
main = do
  let inv = sampleInventory
  print (totalValue inv)
  mapM_ (putStrLn . itemName) (cheapest 1 inv)

sigDemo :: Int {- sigcomment -} -> Int
sigDemo x = x -- sigcomment
